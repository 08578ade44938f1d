/**
 * Which tenant a message belongs to, read from its subject: that of the agent
 * it was for — a session's mailbox names the agent — or of the account it came
 * through: an HTTP chat's account is its agent (agent-routing.ts), and a
 * tenant's channel account is `<tenant>/<name>` (src/adapters/registry.ts),
 * as a tenant's agent is stored as `<tenant>/<agent>` (agents.ts).
 */
import { parseInboundSubject, parseOutboundSubject, parseSessionSubject } from "../bus/index.js";
import { agentIdTenant } from "./agents.js";

/** The tenant of a message on `subject`; undefined: the operator's (the operator's channels, skills, webhooks). */
export function tenantOfSubject(subject: string): string | undefined {
  const session = parseSessionSubject(subject);
  if (session) return agentIdTenant(session.agent);
  const chat = parseInboundSubject(subject) ?? parseOutboundSubject(subject);
  return chat ? agentIdTenant(chat.account) : undefined;
}
