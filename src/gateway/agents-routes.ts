/**
 * `/v1/agents`: the cluster's agents. `GET /v1/agents` lists them in the
 * order they answer (by their most specific binding) with the whole routing
 * table (`routing`: every binding in the order it is tried, the default agent
 * last), `GET /v1/agents/{id}` shows one, `POST /v1/agents` registers or
 * updates one (validated as `CLAW_CONFIG` is; stored in KV `claw_registry`
 * and applied on every node without a restart). A tenant's credential sees
 * and registers only its own tenant's agents, by the names it gave them
 * (tenant-scope.ts).
 */
import type { RouteHandlers } from "./api-routes.js";
import { HttpError } from "./errors.js";
import { readJson, sendJson } from "./http-io.js";
import { principalOf } from "./principal.js";
import { page, PageQuerySchema, parseQuery } from "./schemas.js";
import { agentsSeenBy } from "./tenant-scope.js";

export type { AgentDirectory } from "./agent-directory.js";
import type { AgentDirectory } from "./agent-directory.js";

/** The `/v1/agents` routes' handlers. */
export function agentsRoutes(agents: AgentDirectory, maxPayload: number): Pick<RouteHandlers, "GET /v1/agents" | "POST /v1/agents" | "GET /v1/agents/{id}"> {
  return {
    "GET /v1/agents": async (req, res, { url }) => {
      const seen = agentsSeenBy(agents, principalOf(req));
      const p = page(seen.list(), parseQuery(PageQuerySchema, url.searchParams));
      sendJson(res, 200, { agents: p.items, next_cursor: p.next_cursor, routing: seen.routes() });
    },
    "POST /v1/agents": async (req, res) => {
      const body = await readJson(req, maxPayload);
      try {
        const r = await agentsSeenBy(agents, principalOf(req)).put(body);
        sendJson(res, r.created ? 201 : 200, r.agent);
      } catch (e) {
        const err = e as { code?: unknown; field?: unknown; message?: string };
        if (err.code === "invalid_agent")
          throw new HttpError(400, "invalid_agent", err.message ?? "invalid agent", typeof err.field === "string" ? err.field : undefined);
        throw e;
      }
    },
    "GET /v1/agents/{id}": async (req, res, { params }) => {
      // another tenant's agent answers as one that does not exist
      const agent = agentsSeenBy(agents, principalOf(req)).get(params.id!);
      if (!agent) throw new HttpError(404, "no_agent", `no agent named ${params.id}`);
      sendJson(res, 200, agent);
    },
  };
}
