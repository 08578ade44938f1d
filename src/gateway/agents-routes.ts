/**
 * `/v1/agents`: the cluster's agents. `GET /v1/agents` lists them in the
 * order they answer (by their most specific binding) with the whole routing
 * table (`routing`: every binding in the order it is tried, the default agent
 * last), `GET /v1/agents/{id}` shows one, `POST /v1/agents` registers or
 * updates one (validated as `CLAW_CONFIG` is; stored in KV `claw_registry`
 * and applied on every node without a restart).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "./errors.js";
import { readJson, sendJson } from "./http-io.js";
import { page, PageQuerySchema, parseQuery } from "./schemas.js";

/** The agents as the gateway sees them (the node's registry). */
export interface AgentDirectory {
  /** every agent, in the order they answer (JSON) */
  list(): unknown[];
  /** every binding in the order it is tried (JSON) */
  routes(): unknown[];
  /** one agent (JSON), or undefined */
  get(id: string): unknown;
  /**
   * registers or updates an agent; rejects with an error whose `code` is
   * `invalid_agent` (and `field` names what is wrong) when it is invalid
   */
  put(input: unknown): Promise<{ agent: unknown; created: boolean }>;
}

/** The `/v1/agents` routes, for the gateway's router: true when handled. */
export function agentsRoutes(agents: AgentDirectory, maxPayload: number): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> {
  return async (req, res, url) => {
    const path = url.pathname;
    if (path === "/v1/agents") {
      if (req.method === "GET") {
        const p = page(agents.list(), parseQuery(PageQuerySchema, url.searchParams));
        return sendJson(res, 200, { agents: p.items, next_cursor: p.next_cursor, routing: agents.routes() }), true;
      }
      if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use GET or POST");
      const body = await readJson(req, maxPayload);
      try {
        const r = await agents.put(body);
        sendJson(res, r.created ? 201 : 200, r.agent);
      } catch (e) {
        const err = e as { code?: unknown; field?: unknown; message?: string };
        if (err.code === "invalid_agent") throw new HttpError(400, "invalid_agent", err.message ?? "invalid agent", typeof err.field === "string" ? err.field : undefined);
        throw e;
      }
      return true;
    }
    const one = /^\/v1\/agents\/([^/]+)$/.exec(path);
    if (!one) return false;
    if (req.method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
    const id = decodeURIComponent(one[1]!);
    const agent = agents.get(id);
    if (!agent) throw new HttpError(404, "no_agent", `no agent named ${id}`);
    sendJson(res, 200, agent);
    return true;
  };
}
