/**
 * The data plane under every transport: a message into a chat, a turn of an
 * agent, a skill run — checked, addressed and keyed once, here, for the HTTP
 * routes (messages-routes.ts, skills-routes.ts) and the gRPC service alike.
 * What a caller names lives in its own namespace (http-session.ts), and its
 * idempotency keys cannot reach another caller's messages (idempotency.ts),
 * whichever way it came in. Failures are {@link HttpError}s; each transport
 * turns them into its own answer.
 */
import { nuid } from "@nats-io/transport-node";
import type { Principal } from "../auth/index.js";
import type { Envelope } from "../bus/index.js";
import { HttpError } from "./errors.js";
import { callerId, CROSS_SESSION_SCOPE, httpChatAddress, mayAddressChat } from "./http-session.js";
import { idempotentMessageId, idempotentSession, idempotentTurnId } from "./idempotency.js";
import { checkChatAddress, type Inbound } from "./inbound.js";
import { checkNamedAgent } from "./named-agent.js";
import { agentIdFor } from "./tenant-scope.js";
import { HTTP_CHANNEL } from "../actors/index.js";
import type { InvokeSchema, InvokeSkillSchema, PostMessageSchema } from "./schemas.js";
import type { z } from "zod";

/** How an invocation ended (the skills module's outcome, as the gateway maps it). */
export type SkillInvokeOutcome =
  | { kind: "ok"; skill: string; output: unknown; durationMs: number }
  | { kind: "failed"; skill: string; error: { code: string; message: string }; durationMs: number }
  | { kind: "unknown"; message: string }
  | { kind: "invalid_input"; message: string; field?: string }
  | { kind: "timeout"; message: string };

/** The skills as the gateway sees them (the node's registry). */
export interface SkillDirectory {
  list(): unknown[];
  /** every version of `id` (JSON), or undefined */
  get(id: string): unknown;
  /**
   * registers a version; rejects with `code: "invalid_skill"` (and `field`) when it is invalid, `not_granted` or `reserved_skill` when it is not the caller's
   * to register
   */
  register(descriptor: unknown, files: Record<string, Uint8Array>): Promise<{ skill: unknown; created: boolean }>;
  invoke(o: { skill: string; version?: string; input: unknown; timeoutMs: number }): Promise<SkillInvokeOutcome>;
}

/** What the data plane needs of the gateway. */
export interface DataPlaneOptions {
  inbound: Inbound;
  /** whether an agent of that id exists (404 otherwise) */
  hasAgent(id: string): boolean;
}

/**
 * A message into a chat (`POST /v1/messages`, gRPC `Publish`), as `who`: a chat
 * that is someone's own session (`~<owner>~…`) is theirs to write into, an
 * agent named in `metadata.agent` the invoker's.
 */
export async function publishMessage(
  inbound: Inbound,
  who: Principal,
  b: z.infer<typeof PostMessageSchema>,
  hasAgent?: (id: string) => boolean,
): Promise<{ message_id: string; duplicate: boolean }> {
  const { channel, chat, idempotency_key, ...rest } = b;
  let account = b.account;
  if (who.tenant !== undefined) {
    // a tenant writes only to its own agents, through their HTTP accounts: the cluster's channels are not its to reach
    if (channel !== HTTP_CHANNEL)
      throw new HttpError(403, "forbidden", `channel: a tenant's credential writes to its agents: channel ${HTTP_CHANNEL}, account <agent id>`, "channel");
    account = agentIdFor(who, account);
    if (hasAgent && !hasAgent(account)) throw new HttpError(404, "no_agent", `no agent named ${b.account}`, "account");
    const named = rest.metadata?.agent;
    if (typeof named === "string") rest.metadata = { ...rest.metadata, agent: agentIdFor(who, named) };
  }
  for (const [field, id] of [
    ["chat", chat],
    ["sender.id", rest.sender.id],
  ] as const) {
    if (!mayAddressChat(id, who))
      throw new HttpError(403, "forbidden", `${field}: another caller's own (writing as it needs the scope ${CROSS_SESSION_SCOPE})`, field);
  }
  checkNamedAgent(rest.metadata, who);
  const r = await inbound.accept({ channel, account, chat }, rest, idempotency_key === undefined ? undefined : idempotentMessageId(who, idempotency_key));
  return { message_id: r.id, duplicate: r.duplicate };
}

/**
 * Throws 404 for an agent that does not exist (or is another tenant's), 503 while the bus cannot take a message: before a
 * request's body is read. Returns the agent's stored id (a tenant's agent `support` is `<tenant>/support`).
 */
export function checkInvocable(o: DataPlaneOptions, agent: string, who: Principal): string {
  const id = agentIdFor(who, agent);
  if (!o.hasAgent(id)) throw new HttpError(404, "no_agent", `no agent named ${agent}`);
  o.inbound.checkAvailable();
  return id;
}

/** A turn asked for: the invoke body, the idempotency key (a header's or the body's), and where the reply's pieces go. */
export interface TurnAsk {
  body: z.infer<typeof InvokeSchema>;
  key: string | undefined;
  /** how long to wait for the reply (default: the body's `timeout_ms`) */
  timeoutMs?: number;
  onDelta?: (piece: string) => void;
}

/**
 * A turn of `agent` (`POST /v1/agents/{id}/invoke`, gRPC `Invoke` and `Chat`)
 * as `principal`, answered with its reply (`kind: "error"` for a failed turn:
 * the transport says how). The caller speaks as itself: its session and its
 * sender id are within its own namespace.
 */
export async function invokeAgent(
  o: DataPlaneOptions,
  principal: Principal,
  agent: string,
  t: TurnAsk,
): Promise<{ message_id: string; session: string; reply: Envelope }> {
  const b = t.body;
  const session = b.session ?? (t.key ? idempotentSession(principal, agent, t.key) : nuid.next());
  const input = { text: b.text, sender: { ...b.sender, id: callerId(b.sender.id, principal, "sender.id") }, metadata: { ...b.metadata, agent } };
  const idempotencyKey = t.key ? idempotentTurnId(principal, agent, session, t.key) : undefined;
  const addr = httpChatAddress(agent, session, principal);
  // the caller's session within its namespace may outgrow a subject token: named as the caller named it
  checkChatAddress(addr, { chat: "session" });
  const { id, reply } = await o.inbound.converse(addr, input, { idempotencyKey, timeoutMs: t.timeoutMs ?? b.timeout_ms, onDelta: t.onDelta });
  return { message_id: id, session, reply };
}

/**
 * A skill run (`POST /v1/skills/{id}/invoke`, gRPC `InvokeSkill`): its output,
 * or how it failed once it ran; 404 for no such skill or version, 400 for
 * input that breaks its schema, 504 when no node answered in time.
 */
export async function invokeSkill(
  skills: SkillDirectory,
  skill: string,
  b: z.infer<typeof InvokeSkillSchema>,
): Promise<Extract<SkillInvokeOutcome, { kind: "ok" | "failed" }>> {
  const r = await skills.invoke({ skill, version: b.version, input: b.input ?? {}, timeoutMs: b.timeout_ms });
  switch (r.kind) {
    case "ok":
    case "failed":
      return r;
    case "unknown":
      throw new HttpError(404, "no_skill", r.message);
    case "invalid_input":
      throw new HttpError(400, "invalid_input", r.message, r.field);
    case "timeout":
      throw new HttpError(504, "timeout", r.message);
  }
}
