/**
 * `GET /v1/agents/{id}/memory` and `DELETE /v1/agents/{id}/memory/{mid}`:
 * an operator's view of what an agent remembers — all of it, one sender's or
 * one chat's, or what matches `q` — and the removal of a memory (a user who
 * asks to be forgotten).
 */
import type { z } from "zod";
import { MEMORY_ID, type MemoryListing, type MemoryScope, type MemoryStore } from "../memory/index.js";
import type { RouteHandlers } from "./api-routes.js";
import { HttpError } from "./errors.js";
import { sendJson } from "./http-io.js";
import { MemoryQuerySchema, parseQuery } from "./schemas.js";

/** The scope a query names, if it names one. */
function scopeOfQuery(q: z.infer<typeof MemoryQuerySchema>): MemoryScope | undefined {
  if (q.sender !== undefined) {
    if (!q.channel) throw new HttpError(400, "invalid_query", "sender: a sender is known by its channel too (channel=…&sender=…)", "channel");
    return { kind: "sender", channel: q.channel, sender: q.sender };
  }
  if (q.chat !== undefined) {
    if (!q.channel || !q.account) throw new HttpError(400, "invalid_query", "chat: a chat is known by channel, account and chat", "account");
    return { kind: "chat", channel: q.channel, account: q.account, chat: q.chat };
  }
  return undefined;
}

/** The memory routes' handlers over `store`; `hasAgent` answers 404 for an agent nobody registered. */
export function memoryRoutes(
  store: MemoryStore,
  hasAgent: (id: string) => boolean,
): Pick<RouteHandlers, "GET /v1/agents/{id}/memory" | "DELETE /v1/agents/{id}/memory/{mid}"> {
  const agentOf = (id: string) => {
    if (!hasAgent(id)) throw new HttpError(404, "no_agent", `no agent ${id}`);
    return id;
  };
  return {
    "GET /v1/agents/{id}/memory": async (_req, res, { params, url }) => {
      const agent = agentOf(params.id!);
      const q = parseQuery(MemoryQuerySchema, url.searchParams);
      const scope = scopeOfQuery(q);
      // every scope of the agent when the query names none
      const scopes: MemoryListing[] = await store.list(agent, scope);
      const out = await Promise.all(
        scopes.map(async (s) => ({
          scope: s.scope,
          memories: q.q ? await store.search(agent, s.scope, q.q, { limit: q.limit }) : s.memories.slice(0, q.limit),
        })),
      );
      sendJson(res, 200, { agent, scopes: out.filter((s) => s.memories.length > 0) });
    },
    "DELETE /v1/agents/{id}/memory/{mid}": async (_req, res, { params }) => {
      const agent = agentOf(params.id!);
      if (!MEMORY_ID.test(params.mid!) || !(await store.forget(agent, params.mid!)))
        throw new HttpError(404, "no_memory", `no memory ${params.mid} of agent ${agent}`);
      res.writeHead(204);
      res.end();
    },
  };
}
