/**
 * What the node owner lets a registered skill have of the node. A skill's
 * descriptor *asks* for environment variables, secrets and host paths
 * (`permissions.env`, `.secrets`, `.filesystem.readOnly`); the node gives
 * only what its owner granted that skill id in `CLAW_CONFIG` (`skillGrants`)
 * — whoever may register skills (`skills:admin`) must not thereby read the
 * node's NATS credentials, its secrets or its files. The NATS credentials
 * (`NATS_*`) and Claw's own variables (`CLAW_*`, secrets included) are never
 * given, whatever a grant says. Checked at registration (the node that takes
 * it) and again by the node that runs it: nodes' configurations may differ.
 */
import { realpath } from "node:fs/promises";
import { posix } from "node:path";
import { z } from "zod";
import type { SkillDescriptor } from "./descriptor.js";

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SKILL_ID = /^[a-z0-9][a-z0-9._-]{0,127}$/;

/** Variables no skill is ever given: the node's NATS credentials and Claw's own settings. */
export const NODE_OWN_ENV = /^(NATS_|CLAW_)/;

/** One skill's grant (`skillGrants.<id>` in CLAW_CONFIG). */
export const SkillGrantSchema = z
  .object({
    /** the node's environment variables it may be given, by name */
    env: z
      .array(
        z
          .string()
          .regex(NAME, "a variable name")
          .refine((n) => !NODE_OWN_ENV.test(n), "NATS_* and CLAW_* are the node's own: never given to a skill"),
      )
      .default([]),
    /** secrets (`CLAW_SECRET_<NAME>`) it may be given, by `<NAME>` */
    secrets: z.array(z.string().regex(NAME, "a secret name")).default([]),
    /** host paths it may mount read-only: these, and what is below them */
    readOnly: z.array(z.string().regex(/^\/[^\0]*$/, "an absolute path")).default([]),
  })
  .strict();
export type SkillGrant = z.infer<typeof SkillGrantSchema>;

/** `skillGrants` in CLAW_CONFIG: skill id → grant. */
export const SkillGrantsSchema = z.record(z.string().regex(SKILL_ID, "a skill id"), SkillGrantSchema);
export type SkillGrants = Record<string, SkillGrant>;

/** A skill asks for something of the node its owner did not grant it; `field` names the permission. */
export class SkillNotGrantedError extends Error {
  override readonly name = "SkillNotGrantedError";
  readonly code = "not_granted";
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** A registration over an id of Claw's own skills (any version). */
export class SkillReservedError extends Error {
  override readonly name = "SkillReservedError";
  readonly code = "reserved_skill";
  readonly field = "id";
  constructor(readonly skill: string) {
    super(`${skill} is one of Claw's own skills: its id is reserved (register yours under another id)`);
  }
}

/** `p` with `..` and `.` resolved and no trailing slash (lexically: nothing is read). */
const clean = (p: string) => posix.normalize(p).replace(/(.)\/+$/, "$1");
const within = (p: string, root: string) => p === root || p.startsWith(root === "/" ? "/" : `${root}/`);

/**
 * The first thing `d` asks of the node that `grants` does not give it, or
 * undefined. Paths are compared lexically here (they need not exist on the
 * node that checks); {@link grantedPaths} resolves links where they are mounted.
 */
export function ungranted(d: Pick<SkillDescriptor, "id" | "permissions">, grants: SkillGrants): SkillNotGrantedError | undefined {
  const g = grants[d.id];
  const where = (field: string) => `CLAW_CONFIG skillGrants["${d.id}"].${field}`;
  for (const [i, name] of d.permissions.env.entries()) {
    if (NODE_OWN_ENV.test(name))
      return new SkillNotGrantedError(`permissions.env: ${name} is the node's own (NATS_* and CLAW_* are never given to a skill)`, `permissions.env.${i}`);
    if (!g?.env.includes(name))
      return new SkillNotGrantedError(`permissions.env: ${name} is not granted to ${d.id} by this node's owner (${where("env")})`, `permissions.env.${i}`);
  }
  for (const [i, name] of d.permissions.secrets.entries()) {
    if (!g?.secrets.includes(name))
      return new SkillNotGrantedError(
        `permissions.secrets: ${name} is not granted to ${d.id} by this node's owner (${where("secrets")})`,
        `permissions.secrets.${i}`,
      );
  }
  for (const [i, path] of d.permissions.filesystem.readOnly.entries()) {
    if (!g?.readOnly.some((root) => within(clean(path), clean(root)))) {
      return new SkillNotGrantedError(
        `permissions.filesystem.readOnly: ${path} is not within a path granted to ${d.id} by this node's owner (${where("readOnly")})`,
        `permissions.filesystem.readOnly.${i}`,
      );
    }
  }
  return undefined;
}

/**
 * The host paths `d` is granted (as it asked for them, `..` resolved), each resolved to where it really is (its
 * links followed), checked again against the grant resolved the same way:
 * a link planted inside a granted folder cannot lead out of it. Throws
 * {@link SkillNotGrantedError}; a path that does not exist rejects with ENOENT.
 */
export async function grantedPaths(d: Pick<SkillDescriptor, "id" | "permissions">, grants: SkillGrants): Promise<Array<{ path: string; real: string }>> {
  const roots = await Promise.all((grants[d.id]?.readOnly ?? []).map((r) => realpath(r).catch(() => undefined)));
  const out: Array<{ path: string; real: string }> = [];
  for (const [i, path] of d.permissions.filesystem.readOnly.entries()) {
    const real = await realpath(path);
    if (!roots.some((root) => root !== undefined && within(real, root))) {
      throw new SkillNotGrantedError(
        `permissions.filesystem.readOnly: ${path} leads to ${real}, which is not within a path granted to ${d.id} by this node's owner`,
        `permissions.filesystem.readOnly.${i}`,
      );
    }
    out.push({ path: clean(path), real });
  }
  return out;
}
