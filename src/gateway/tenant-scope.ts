/**
 * What a caller sees of the cluster's namespaces: the operator (a credential
 * without a tenant, or no credential on an open gateway) sees every agent by
 * its stored id (`acme/support` for a tenant's); a tenant's credential names
 * its own agents as they were named (`support`) and sees nothing of the
 * others — one it may not see answers as one that does not exist.
 */
import { agentIdTenant, localAgentId, qualifiedAgentId } from "../actors/index.js";
import type { Principal } from "../auth/index.js";
import type { AgentDirectory } from "./agent-directory.js";

/** The stored id of the agent `name` as `who` names it (a tenant's names are within its tenant). */
export function agentIdFor(who: Principal, name: string): string {
  return qualifiedAgentId(who.tenant, name);
}

/** True when `who` may see the agent stored as `id`. */
export function seesAgent(who: Principal, id: string): boolean {
  return who.tenant === undefined || agentIdTenant(id) === who.tenant;
}

/** True when `who` may see what belongs to `tenant` (undefined: the operator's). */
export function seesTenant(who: Principal, tenant: string | undefined): boolean {
  return who.tenant === undefined || who.tenant === tenant;
}

/** An agent id as `who` names it: a tenant's own without its tenant part. */
export function agentIdAs(who: Principal, id: string): string {
  return who.tenant === undefined ? id : localAgentId(id);
}

/** A registry entry as the directory gives it (JSON): its spec's stored id. */
interface Entry {
  spec: { id: string; tenant?: string };
}
const isEntry = (e: unknown): e is Entry =>
  typeof e === "object" && e !== null && "spec" in e && typeof e.spec === "object" && e.spec !== null && "id" in e.spec && typeof e.spec.id === "string";

const isRoute = (r: unknown): r is { agent: string } => typeof r === "object" && r !== null && "agent" in r && typeof r.agent === "string";

/**
 * The agents as `who` sees them: a tenant lists, reads and registers only
 * its own, by the names it gave them; the operator sees the directory as it is.
 */
export function agentsSeenBy(agents: AgentDirectory, who: Principal): AgentDirectory {
  if (who.tenant === undefined) return agents;
  const tenant = who.tenant;
  const present = (e: unknown): unknown => (isEntry(e) ? { ...e, spec: { ...e.spec, id: localAgentId(e.spec.id) } } : e);
  const own = (e: unknown): boolean => isEntry(e) && agentIdTenant(e.spec.id) === tenant;
  return {
    list: () => agents.list().filter(own).map(present),
    routes: () =>
      agents
        .routes()
        .filter(isRoute)
        .filter((r) => agentIdTenant(r.agent) === tenant)
        .map((r) => ({ ...r, agent: localAgentId(r.agent) })),
    get: (name) => {
      const e = agents.get(qualifiedAgentId(tenant, name));
      return own(e) ? present(e) : undefined;
    },
    async put(input) {
      const body = typeof input === "object" && input !== null ? (input as Record<string, unknown>) : {};
      if (body.tenant !== undefined && body.tenant !== tenant)
        throw Object.assign(new Error("tenant: a tenant's credential registers agents within its own tenant"), { code: "invalid_agent", field: "tenant" });
      if (typeof body.id === "string" && body.id.includes("/"))
        throw Object.assign(new Error("id: letters, digits, _ and - only"), { code: "invalid_agent", field: "id" });
      const r = await agents.put({ ...body, tenant });
      return { ...r, agent: present(r.agent) };
    },
  };
}

/**
 * The routes a tenant's credential may call: those that keep to its own
 * namespace (its agents, dead letters, webhooks, usage, its web chats on
 * `/v1/ws` and gRPC `Replies`, whose accounts are `<tenant>/<account>`) or
 * read what every tenant shares (the skills, `/openapi.json`). Any other —
 * the live view, the web chat page, schedules, channels, registering skills, metrics,
 * and any route added later until it is made tenant-aware — reaches the
 * whole cluster, and answers a tenant 403 `not_for_tenants`.
 */
export const TENANT_ROUTES: ReadonlySet<string> = new Set([
  "POST /v1/messages",
  "POST /v1/chat/completions",
  "POST /v1/responses",
  "GET /v1/models",
  "GET /v1/models/{id}",
  "POST /v1/agents/{id}/invoke",
  "GET /v1/agents",
  "POST /v1/agents",
  "GET /v1/agents/{id}",
  "GET /v1/skills",
  "GET /v1/skills/{id}",
  "POST /v1/skills/{id}/invoke",
  "GET /v1/dlq",
  "GET /v1/dlq/{seq}",
  "POST /v1/dlq/{seq}/replay",
  "POST /v1/webhooks",
  "GET /v1/webhooks",
  "DELETE /v1/webhooks/{id}",
  "GET /v1/usage",
  "GET /v1/ws",
  "GET /openapi.json",
]);
