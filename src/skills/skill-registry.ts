/**
 * The skills of a cluster: descriptors in KV `claw_registry` under
 * `skills.<id>.<version>` (tokens escaped: ids and versions hold dots), their
 * files in the object store `claw_skill_files` under `<id>@<version>/<path>`.
 * Two versions of a skill live side by side; `"<id>@<range>"` resolves to
 * the highest version that satisfies the range. Every node follows the
 * registry as it changes and copies a skill's files into its local cache the
 * first time it runs it.
 *
 * The ids of Claw's own skills (the in-process built-ins, and those any node
 * registered from its `skills/` folder) are reserved: registering one over
 * the API is refused, any version, and a version registered otherwise (from
 * before this rule, or by hand in KV) is never what an id resolves to.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";
import type { KV } from "@nats-io/kv";
import { KvWatchInclude } from "@nats-io/kv";
import type { ObjectStore } from "@nats-io/obj";
// one function of semver, not its index (which loads every module of the package)
import compare from "semver/functions/compare.js";
import { encodeToken, withRetry } from "../bus/index.js";
import { parseSkillDescriptor, skillRef, SkillDescriptorError, type SkillDescriptor } from "./descriptor.js";
import { builtinSkills } from "./builtin-skills.js";
import { resolveVersion } from "./skill-catalog.js";
import { SkillReservedError, ungranted, type SkillGrants } from "./skill-grants.js";

/** A skill as the registry keeps it. */
export interface RegisteredSkill {
  descriptor: SkillDescriptor;
  /** sha256 over its files (their paths and bytes) */
  digest: string;
  files: string[];
  /** `builtin` (shipped with Claw, registered by every node) or `api` (`POST /v1/skills`, `claw skills install`) */
  source: "builtin" | "api";
  updatedAt: number;
}

/** Files of a skill package: path (relative, `/`-separated) → bytes. */
export type SkillFiles = Record<string, Uint8Array>;

/** The registry of a node. */
export interface SkillRegistry {
  /** every version of every skill, by id then version */
  list(): RegisteredSkill[];
  /** the highest version of `id` within `range` (`*`: any) */
  resolve(id: string, range?: string): RegisteredSkill | undefined;
  /**
   * registers a version (validated; throws SkillDescriptorError); replacing a version needs its files to change or `replace`.
   * From the API, a reserved id throws SkillReservedError, and with the node's grants a permission they do not give throws SkillNotGrantedError.
   */
  register(descriptor: unknown, files: SkillFiles, source: "builtin" | "api"): Promise<{ skill: RegisteredSkill; created: boolean }>;
  /** the local folder holding the skill's files (copied from the object store the first time) */
  materialize(skill: RegisteredSkill): Promise<string>;
  /** told when a skill is registered or changed */
  onChange(listener: (s: RegisteredSkill) => void): () => void;
  close(): void;
}

const PREFIX = "skills.";
const keyOf = (id: string, version: string) => `${PREFIX}${encodeToken(id)}.${encodeToken(version)}`;

/** sha256 over the sorted paths and their bytes. */
export function digestOf(files: SkillFiles): string {
  const h = createHash("sha256");
  for (const path of Object.keys(files).sort()) {
    h.update(path);
    h.update("\0");
    h.update(files[path]!);
    h.update("\0");
  }
  return h.digest("hex");
}

/** Refuses file paths that would leave the skill's folder. */
function checkPaths(files: SkillFiles): void {
  for (const p of Object.keys(files)) {
    const n = normalize(p);
    if (p.startsWith("/") || n.startsWith("..") || n.includes("\0"))
      throw new SkillDescriptorError(`files: ${p} is not a path inside the skill's folder`, "files");
  }
}

/** Options of {@link openSkillRegistry}. */
export interface SkillRegistryOptions {
  onError?: (e: unknown) => void;
  /** ids of Claw's own skills besides the in-process built-ins and those registered as `builtin` (the node's shipped skills) */
  reserved?: Iterable<string>;
  /** the node's grants: a registration from the API asking for more is refused (the CLI, which has none, is checked where the skill runs) */
  grants?: SkillGrants;
}

/** Opens the registry: loads every skill, then follows changes. */
export async function openSkillRegistry(kv: KV, objects: ObjectStore, cacheDir: string, o: SkillRegistryOptions = {}): Promise<SkillRegistry> {
  const reserved = new Set([...builtinSkills().map((b) => b.descriptor.id), ...(o.reserved ?? [])]);
  const skills = new Map<string, RegisteredSkill & { revision: number }>();
  const listeners = new Set<(s: RegisteredSkill) => void>();
  const stale = (key: string, revision: number) => (skills.get(key)?.revision ?? -1) >= revision;
  /** Takes revision `revision` of `key` (a skill, or undefined: deleted) unless a later one is already here. */
  const accept = (key: string, revision: number, skill: RegisteredSkill | undefined) => {
    if (stale(key, revision)) return;
    if (!skill) {
      skills.delete(key);
      return;
    }
    const s = { ...skill, revision };
    skills.set(key, s);
    for (const l of listeners) l(s);
  };
  /** An entry as KV holds it (another node's: validated again). */
  const apply = (key: string, revision: number, bytes: Uint8Array | undefined) => {
    if (stale(key, revision)) return; // (our own registration, back from the watch)
    try {
      const r = bytes && (JSON.parse(new TextDecoder().decode(bytes)) as RegisteredSkill);
      // compiled in full when it was registered; its schemas are compiled here on first use
      accept(key, revision, r && { ...r, descriptor: parseSkillDescriptor(r.descriptor, { compile: false }) });
    } catch (e) {
      o.onError?.(e);
    }
  };
  const watch = await kv.watch({ key: `${PREFIX}>`, include: KvWatchInclude.UpdatesOnly });
  void (async () => {
    for await (const e of watch) apply(e.key, e.revision, e.operation === "PUT" ? e.value : undefined);
  })().catch((e: unknown) => o.onError?.(e));
  for await (const key of await withRetry(() => kv.keys(`${PREFIX}>`))) {
    const e = await withRetry(() => kv.get(key));
    if (e) apply(key, e.revision, e.operation === "PUT" ? e.value : undefined);
  }

  /** An id Claw's own skills hold: reserved, or with a version registered as `builtin` by some node. */
  const isOwn = (id: string) => reserved.has(id) || [...skills.values()].some((s) => s.source === "builtin" && s.descriptor.id === id);

  const registry: SkillRegistry = {
    list: () => [...skills.values()].sort((a, b) => a.descriptor.id.localeCompare(b.descriptor.id) || compare(a.descriptor.version, b.descriptor.version)),
    resolve(id, range = "*") {
      // Claw's own id: only its own versions, however high another one is
      const own = isOwn(id);
      return resolveVersion(
        [...skills.values()].filter((s) => !own || s.source === "builtin").map((s) => ({ id: s.descriptor.id, version: s.descriptor.version, s })),
        id,
        range,
      )?.s;
    },
    async register(input, files, source) {
      // a registration through the API is compiled in full now; Claw's own skills are compiled on first use
      const descriptor = parseSkillDescriptor(input, { compile: source === "api" });
      if (source === "api") {
        if (isOwn(descriptor.id)) throw new SkillReservedError(descriptor.id);
        if (descriptor.runtime === "builtin") throw new SkillDescriptorError("runtime: builtin is the runtime of Claw's own skills", "runtime");
        const refused = o.grants && ungranted(descriptor, o.grants);
        if (refused) throw refused;
      }
      checkPaths(files);
      if (descriptor.runtime === "node" || descriptor.runtime === "process") {
        const entry = descriptor.entrypoint![0]!;
        if (!entry.startsWith("/") && !files[entry]) throw new SkillDescriptorError(`entrypoint: ${entry} is not among the skill's files`, "entrypoint");
      }
      const digest = digestOf(files);
      const key = keyOf(descriptor.id, descriptor.version);
      const existing = skills.get(key);
      if (existing && existing.digest === digest && JSON.stringify(existing.descriptor) === JSON.stringify(descriptor))
        return { skill: existing, created: false };
      // the files first: a registry entry never names files that are not there
      for (const [path, bytes] of Object.entries(files)) await withRetry(() => objects.putBlob({ name: `${skillRef(descriptor)}/${path}` }, bytes));
      const skill: RegisteredSkill = { descriptor, digest, files: Object.keys(files).sort(), source, updatedAt: Date.now() };
      accept(key, await withRetry(() => kv.put(key, JSON.stringify(skill))), skill);
      return { skill, created: !existing };
    },
    async materialize(skill) {
      const dir = join(cacheDir, `${encodeToken(skillRef(skill.descriptor))}-${skill.digest.slice(0, 16)}`);
      if (existsSync(join(dir, ".complete"))) return dir;
      // into a fresh folder, renamed when whole: a node that dies half-way leaves nothing half-copied in use
      const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
      await mkdir(tmp, { recursive: true });
      for (const path of skill.files) {
        const bytes = await withRetry(() => objects.getBlob(`${skillRef(skill.descriptor)}/${path}`));
        if (!bytes) throw new Error(`${skillRef(skill.descriptor)}: file ${path} is missing from the object store`);
        await mkdir(dirname(join(tmp, path)), { recursive: true });
        await writeFile(join(tmp, path), bytes, { mode: 0o755 });
      }
      await writeFile(join(tmp, ".complete"), skill.digest);
      await rename(tmp, dir).catch(async (e: unknown) => {
        await rm(tmp, { recursive: true, force: true });
        if (!existsSync(join(dir, ".complete"))) throw e; // someone else put it there first: fine
      });
      return dir;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    close: () => watch.stop(),
  };
  return registry;
}

/** Reads a skill folder (`skill.json` and every file beside it, recursively). */
export async function readSkillFolder(dir: string): Promise<{ descriptor: unknown; files: SkillFiles }> {
  const files: SkillFiles = {};
  const walk = async (rel: string) => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (e.name !== "node_modules" && !e.name.startsWith(".")) await walk(p);
      } else if (e.isFile() && p !== "skill.json") {
        files[p] = await readFile(join(dir, p));
      }
    }
  };
  let descriptor: unknown;
  try {
    descriptor = JSON.parse(await readFile(join(dir, "skill.json"), "utf8"));
  } catch (e) {
    throw new SkillDescriptorError(`${dir}/skill.json: ${(e as Error).message}`, undefined, { cause: e });
  }
  await walk("");
  return { descriptor, files };
}
