/**
 * `/v1/skills`: the cluster's skills. `GET /v1/skills` lists every version,
 * `GET /v1/skills/{id}` one skill's versions, `POST /v1/skills` registers a
 * version (its descriptor, and its files base64-encoded under `files`), and
 * `POST /v1/skills/{id}/invoke` runs it on whichever node can: 200 with the
 * output, 400 for input that breaks its schema, 404 for no such skill or
 * version, 422 when it ran and failed or the sandbox stopped it, 504 when no
 * node answered in time.
 */
import type { RouteHandlers } from "./api-routes.js";
import { HttpError } from "./errors.js";
import { readJson, sendJson } from "./http-io.js";
import { invokeSkill, type SkillDirectory } from "./data-plane.js";
import { InvokeSkillSchema, page, PageQuerySchema, parseBody, parseQuery } from "./schemas.js";

export type { SkillDirectory, SkillInvokeOutcome } from "./data-plane.js";

/** A registration's body: the descriptor's fields, and its files base64-encoded under `files`. */
function registration(body: unknown): { descriptor: Record<string, unknown>; files: Record<string, Uint8Array> } {
  const { files = {}, ...descriptor } = (body ?? {}) as { files?: Record<string, unknown> } & Record<string, unknown>;
  const bytes: Record<string, Uint8Array> = {};
  for (const [p, b64] of Object.entries(files)) {
    if (typeof b64 !== "string") throw new HttpError(400, "invalid_skill", `files.${p}: base64 text expected`, `files.${p}`);
    bytes[p] = Buffer.from(b64, "base64");
  }
  return { descriptor, files: bytes };
}

/** The `/v1/skills` routes' handlers; `checkAvailable` refuses an invocation at once while the bus cannot take it. */
export function skillsRoutes(
  skills: SkillDirectory,
  maxPayload: number,
  checkAvailable: () => void,
): Pick<RouteHandlers, "GET /v1/skills" | "POST /v1/skills" | "GET /v1/skills/{id}" | "POST /v1/skills/{id}/invoke"> {
  return {
    "GET /v1/skills": async (_req, res, { url }) => {
      const p = page(skills.list(), parseQuery(PageQuerySchema, url.searchParams));
      sendJson(res, 200, { skills: p.items, next_cursor: p.next_cursor });
    },
    "POST /v1/skills": async (req, res) => {
      const { descriptor, files } = registration(await readJson(req, maxPayload * 16));
      try {
        const r = await skills.register(descriptor, files);
        sendJson(res, r.created ? 201 : 200, r.skill);
      } catch (e) {
        const err = e as { code?: unknown; field?: unknown; message?: string };
        const field = typeof err.field === "string" ? err.field : undefined;
        if (err.code === "invalid_skill") throw new HttpError(400, "invalid_skill", err.message ?? "invalid skill", field);
        // a permission the node's owner did not grant, or an id of Claw's own skills: not the caller's to take
        if (err.code === "not_granted" || err.code === "reserved_skill") throw new HttpError(403, err.code, err.message ?? "refused", field);
        throw e;
      }
    },
    "POST /v1/skills/{id}/invoke": async (req, res, { params }) => {
      checkAvailable();
      const b = parseBody(InvokeSkillSchema, await readJson(req, maxPayload));
      const r = await invokeSkill(skills, params.id!, b);
      if (r.kind === "ok") return sendJson(res, 200, { skill: r.skill, output: r.output, durationMs: r.durationMs });
      sendJson(res, 422, { skill: r.skill, error: r.error, durationMs: r.durationMs });
    },
    "GET /v1/skills/{id}": async (_req, res, { params }) => {
      const skill = skills.get(params.id!);
      if (!skill) throw new HttpError(404, "no_skill", `no skill ${params.id} is registered`);
      sendJson(res, 200, skill);
    },
  };
}
