/**
 * Scopes: what a credential may do. A scope is `<area>:<verb>`; where it
 * matters one is narrowed to a single target with a third part
 * (`agents:invoke:support` may invoke only the agent `support`). A broader
 * scope covers its narrower forms, and `*` covers everything (a bootstrap
 * or operator key).
 */

/** Every scope the gateway checks, with what it lets in. */
export const SCOPES = {
  "messages:write": "send messages (POST /v1/messages, the WebSocket /v1/ws)",
  "agents:invoke": "invoke agents and chat completions (narrow it: agents:invoke:<agent>)",
  "agents:admin": "list, read and register agents",
  "skills:invoke": "invoke skills (narrow it: skills:invoke:<skill>)",
  "skills:admin": "list, read and register skills",
  "channels:admin": "list channel accounts and their state",
  "dlq:admin": "read and replay dead letters",
  "webhooks:admin": "subscribe webhooks to events, list and remove them",
  "schedules:admin": "make, list and delete schedules (messages put into chats at set times)",
  "approvals:admin": "list the tool calls waiting for a human's approval and approve or deny them",
  "ui:read": "the live view (/ui) and its event stream — state machines, counts, the caller's own sessions — and the web chat page",
  "sessions:any": "every caller's sessions: session ids are taken as given instead of within the caller's own, and the live view shows any session's history",
  "metrics:read": "Prometheus metrics (/metrics)",
  "usage:read": "model calls and tokens per day, tenant and agent (GET /v1/usage): a tenant's credential sees its own tenant's",
} as const;

/** A scope's name (without its narrowing). */
export type ScopeName = keyof typeof SCOPES;

/** A malformed scope list (the CLI says which and why). */
export class ScopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScopeError";
  }
}

/** Checks scopes given to a key: each a known scope, narrowed or not, or `*`. */
export function parseScopes(list: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of list) {
    const s = raw.trim();
    if (s === "") continue;
    if (s === "*") {
      out.push(s);
      continue;
    }
    const [area, verb, ...target] = s.split(":");
    const name = `${area}:${verb}`;
    if (!(name in SCOPES)) throw new ScopeError(`unknown scope ${JSON.stringify(s)} (known: ${Object.keys(SCOPES).join(", ")}, or * for all)`);
    if (target.length > 0 && (target.join(":") === "" || !/^[^\s]{1,200}$/.test(target.join(":"))))
      throw new ScopeError(`scope ${JSON.stringify(s)}: the part after ${name}: must name one target`);
    out.push(s);
  }
  if (out.length === 0) throw new ScopeError("a key needs at least one scope");
  return [...new Set(out)];
}

/** True when `granted` covers `needed` (`agents:invoke` covers `agents:invoke:x`; `*` covers all). */
export function covers(granted: readonly string[], needed: string): boolean {
  for (const g of granted) {
    if (g === "*" || g === needed) return true;
    if (needed.startsWith(`${g}:`) && g.split(":").length === 2) return true;
  }
  return false;
}
