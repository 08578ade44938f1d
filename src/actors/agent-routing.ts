/**
 * Which agent answers a message. Bindings are tried most specific first — one
 * that names the chat, then the sender, the account, the channel, then a
 * catch-all (as OpenClaw's bindings are) — and among equally specific ones
 * the one that names more fields, then the agent's priority, then its id. The
 * default agent answers what no binding matches.
 *
 * `metadata.agent` chooses an agent only among those the message could reach
 * anyway: an agent whose bindings admit it, or the agent's own HTTP account
 * (channel `http`, account = the agent's id), where the gateway publishes
 * only for callers with `agents:invoke:<agent>`. A sender cannot pick an agent
 * that is not bound to its channel (such a message is dead-lettered with
 * `agent_not_bound`). A message belongs to the tenant of its account (a
 * tenant's channel account is `<tenant>/<name>`, as its agents are; an HTTP
 * account is an agent's id): only that tenant's agents answer it, by their
 * bindings (whose `account` names the tenant's own name for the account) or
 * their own HTTP account. The operator's agents answer only the operator's
 * accounts, and the default agent only those.
 */
import type { Envelope } from "../bus/index.js";
import { agentIdTenant, localAgentId, type AgentSpec, type Binding } from "./agents.js";

/** The channel of conversations held over HTTP: account `<agent id>` is that agent's own. */
export const HTTP_CHANNEL = "http";

/** How specific a binding is: the most specific field it names. */
export type BindingMatch = "chat" | "sender" | "account" | "channel" | "any";

/** One line of the routing table: an agent's binding, or the default agent (`binding` absent). */
export interface Route {
  agent: AgentSpec;
  binding?: Binding;
  match: BindingMatch | "default";
}

/** The agent for a message, or why there is none. */
export type AgentChoice = { agent: AgentSpec } | { agent?: undefined; code: "no_agent" | "agent_not_bound"; reason: string; field?: string };

const TIERS = ["chat", "sender", "account", "channel"] as const;
const RANK: Record<BindingMatch, number> = { chat: 4, sender: 3, account: 2, channel: 1, any: 0 };

/** The most specific field a binding names. */
export function bindingMatch(b: Binding): BindingMatch {
  return TIERS.find((t) => b[t] !== "*") ?? "any";
}

const named = (b: Binding) => TIERS.filter((t) => b[t] !== "*").length + Object.keys(b.metadata).length;

/**
 * Every binding of `agents` in the order they are tried, the default agent
 * last. `agents` come in registry order (priority, then id): that order breaks
 * ties between equally specific bindings.
 */
export function routingTable(agents: readonly AgentSpec[], defaultAgent?: string): Route[] {
  const rows = agents.flatMap((agent, order) => agent.bindings.map((binding) => ({ agent, binding, match: bindingMatch(binding), order })));
  rows.sort((a, b) => RANK[b.match] - RANK[a.match] || named(b.binding) - named(a.binding) || a.order - b.order);
  const table: Route[] = rows.map(({ agent, binding, match }) => ({ agent, binding, match }));
  const fallback = defaultAgent === undefined ? undefined : agents.find((a) => a.id === defaultAgent);
  if (fallback) table.push({ agent: fallback, match: "default" });
  return table;
}

const matches = (p: string, v: string) => p === "*" || p === v;

/** The tenant a message belongs to: its account's (undefined: the operator's). */
export function messageTenant(e: Pick<Envelope, "account">): string | undefined {
  return agentIdTenant(e.account);
}

/** True when a binding matches a message (its `account` is the name within the message's tenant). */
export function bound(b: Binding, e: Envelope): boolean {
  const account = localAgentId(e.account);
  if (!(matches(b.channel, e.channel) && matches(b.account, account) && matches(b.chat, e.chat) && matches(b.sender, e.sender.id))) return false;
  return Object.entries(b.metadata).every(([k, v]) => {
    const actual = e.metadata[k];
    return v === "*" ? actual !== undefined : actual !== undefined && String(actual) === v;
  });
}

/**
 * True when `agent` may answer `e`: the message is of the agent's tenant (a
 * tenant's agent never answers the operator's or another tenant's accounts,
 * nor the operator's agents a tenant's), and one of its bindings matches or
 * it is the agent's own HTTP account.
 */
export function admits(agent: AgentSpec, e: Envelope): boolean {
  if (agent.tenant !== messageTenant(e)) return false;
  return (e.channel === HTTP_CHANNEL && e.account === agent.id) || agent.bindings.some((b) => bound(b, e));
}

// the table is rebuilt only when the registry's list (a new array on every change) or the default changes
const tables = new WeakMap<readonly AgentSpec[], { defaultAgent?: string; table: Route[] }>();
function tableOf(agents: readonly AgentSpec[], defaultAgent?: string): Route[] {
  const cached = tables.get(agents);
  if (cached && cached.defaultAgent === defaultAgent) return cached.table;
  const table = routingTable(agents, defaultAgent);
  tables.set(agents, { defaultAgent, table });
  return table;
}

/** The agent for a message: by `metadata.agent` where that agent is admitted, else by the routing table. */
export function resolveAgent(agents: readonly AgentSpec[], e: Envelope, defaultAgent?: string): AgentChoice {
  const where = `${e.channel}/${e.account}/${e.chat}`;
  const tenant = messageTenant(e);
  // only the message's tenant's agents; the default agent answers only the operator's accounts
  const routed = tableOf(agents, defaultAgent).find(
    (r) => r.agent.tenant === tenant && (r.binding === undefined ? tenant === undefined : bound(r.binding, e)),
  )?.agent;
  const name = e.metadata["agent"];
  if (typeof name === "string") {
    const agent = agents.find((a) => a.id === name);
    // another tenant's agent is not named to a sender: it answers as one that does not exist
    if (!agent || agent.tenant !== tenant) return { code: "no_agent", reason: `no agent named ${name}`, field: "metadata.agent" };
    if (agent === routed || admits(agent, e)) return { agent };
    return {
      code: "agent_not_bound",
      reason: `metadata.agent: the agent ${name} is not bound to ${where} (a message may only name an agent that its channel reaches)`,
      field: "metadata.agent",
    };
  }
  return routed ? { agent: routed } : { code: "no_agent", reason: `no agent is bound to ${where}` };
}
