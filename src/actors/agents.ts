/**
 * Agents and their bindings: which agent answers a message, which session of
 * that agent it belongs to, and what the agent may do (its model and
 * fallbacks, system prompt, the skills it may call, its memory budget).
 */
import { z } from "zod";
import type { Envelope } from "../bus/index.js";

const pattern = z.string().min(1).default("*");

/**
 * One binding: a message matches when each given field equals the pattern
 * (`*` = any): channel, account, chat, the sender's id, and each listed
 * metadata key (its value as a string).
 */
export const BindingSchema = z.object({
  channel: pattern,
  account: pattern,
  chat: pattern,
  sender: pattern,
  metadata: z.record(z.string(), z.string()).default({}),
});
export type Binding = z.infer<typeof BindingSchema>;

/** `"<skill id>"` or `"<skill id>@<semver range>"`. */
const SkillRefSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,127}(@[^@\s]{1,64})?$/, "a skill id (lowercase letters, digits, . _ -), optionally @<semver range>");

/**
 * An agent. `kind` names its state machine (agent-kinds.ts); `model` a
 * provider configured on the nodes (or `scripted`, built in), `fallbacks` the
 * providers tried after it; `scope` decides what a session is: one per chat
 * (default, in the chat's own partition), or one per sender across chats.
 */
export const AgentSpecSchema = z.object({
  id: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, "letters, digits, _ and - only"),
  kind: z.string().default("assistant"),
  model: z.string().min(1).default("scripted"),
  fallbacks: z.array(z.string().min(1)).default([]),
  system: z.string().max(100_000).optional(),
  skills: z.array(SkillRefSchema).default([]),
  /** tool rounds in one turn, at most; then the model must answer in text */
  maxToolRounds: z.number().int().min(0).max(64).default(8),
  /** how long a turn waits for a tool's result before it counts as timed out */
  toolTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
  /** a message that arrives while a turn waits for tools cancels them (default: it waits its turn) */
  interrupt: z.boolean().default(false),
  scope: z.enum(["chat", "sender"]).default("chat"),
  /** remembered history entries at most (a turn is two) */
  historyLimit: z.number().int().min(0).max(1000).default(20),
  /** the approximate tokens of history the model is sent; older turns are left out (or summarised) */
  historyTokens: z.number().int().min(50).max(2_000_000).default(8_000),
  /** summarise what falls out of `historyTokens` with a model call instead of forgetting it */
  summarize: z.boolean().default(false),
  bindings: z.array(BindingSchema).default([{ channel: "*", account: "*", chat: "*", sender: "*", metadata: {} }]),
});

/** A validated agent. */
export type AgentSpec = z.infer<typeof AgentSpecSchema>;

/** The default agent: the scripted model, bound to every chat. */
export function defaultAgents(): AgentSpec[] {
  return [AgentSpecSchema.parse({ id: "echo" })];
}

const matches = (p: string, v: string) => p === "*" || p === v;

function bound(b: Binding, e: Envelope): boolean {
  if (!(matches(b.channel, e.channel) && matches(b.account, e.account) && matches(b.chat, e.chat) && matches(b.sender, e.sender.id))) return false;
  return Object.entries(b.metadata).every(([k, v]) => {
    const actual = e.metadata[k];
    return v === "*" ? actual !== undefined : actual !== undefined && String(actual) === v;
  });
}

/**
 * The agent for a message: the one named in `metadata.agent` when given (HTTP
 * invoke), else the first whose bindings match, else the default agent.
 * Undefined when none does.
 */
export function resolveAgent(agents: readonly AgentSpec[], e: Envelope, defaultAgent?: string): AgentSpec | undefined {
  const named = e.metadata["agent"];
  if (typeof named === "string") return agents.find((a) => a.id === named);
  return agents.find((a) => a.bindings.some((b) => bound(b, e))) ?? (defaultAgent ? agents.find((a) => a.id === defaultAgent) : undefined);
}

/** The session id of a message for an agent. */
export function sessionIdFor(agent: AgentSpec, e: Pick<Envelope, "channel" | "account" | "chat" | "sender">): string {
  return agent.scope === "sender" ? `${e.channel}:${e.account}:@${e.sender.id}` : `${e.channel}:${e.account}:${e.chat}`;
}

/** A skill reference split into id and range (`"*"` when none is given). */
export function parseSkillRef(ref: string): { id: string; range: string } {
  const at = ref.indexOf("@");
  return at === -1 ? { id: ref, range: "*" } : { id: ref.slice(0, at), range: ref.slice(at + 1) };
}
