/**
 * Agents and their bindings: which agent answers a message, and which session
 * of that agent it belongs to.
 */
import { z } from "zod";
import type { Envelope } from "../bus/index.js";

const pattern = z.string().min(1).default("*");

/** One binding: a message matches when each given field equals the pattern (`*` = any). */
export const BindingSchema = z.object({ channel: pattern, account: pattern, chat: pattern });

/**
 * An agent. `scope` decides what a session is: one per chat (default, in the
 * chat's own partition), or one per sender across chats (forwarded to the
 * session's partition).
 */
export const AgentSpecSchema = z.object({
  id: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, "letters, digits, _ and - only"),
  model: z.string().default("scripted"),
  scope: z.enum(["chat", "sender"]).default("chat"),
  historyLimit: z.number().int().min(0).max(1000).default(20),
  bindings: z.array(BindingSchema).default([{ channel: "*", account: "*", chat: "*" }]),
});

/** A validated agent. */
export type AgentSpec = z.infer<typeof AgentSpecSchema>;

/** The default agent: the scripted model, bound to every chat. */
export function defaultAgents(): AgentSpec[] {
  return [AgentSpecSchema.parse({ id: "echo" })];
}

const matches = (p: string, v: string) => p === "*" || p === v;

/**
 * The agent for a message: the one named in `metadata.agent` when given (HTTP
 * invoke), else the first whose bindings match. Undefined when none does.
 */
export function resolveAgent(agents: readonly AgentSpec[], e: Envelope): AgentSpec | undefined {
  const named = e.metadata["agent"];
  if (typeof named === "string") return agents.find((a) => a.id === named);
  return agents.find((a) => a.bindings.some((b) => matches(b.channel, e.channel) && matches(b.account, e.account) && matches(b.chat, e.chat)));
}

/** The session id of a message for an agent. */
export function sessionIdFor(agent: AgentSpec, e: Envelope): string {
  return agent.scope === "sender" ? `${e.channel}:${e.account}:@${e.sender.id}` : `${e.channel}:${e.account}:${e.chat}`;
}
