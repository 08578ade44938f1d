/**
 * What OpenAI's two conversation endpoints (`/v1/chat/completions`,
 * `/v1/responses`) share: the `model` is the agent (the caller needs
 * `agents:invoke:<agent>`), the conversation is a Claw session reached
 * through {@link httpChatAddress} — never computed here — and the request's
 * `Idempotency-Key` makes a retry the same turn. The turn is the last user
 * message; Claw keeps the conversation, so earlier messages are not replayed.
 */
import type { IncomingMessage } from "node:http";
import { nuid } from "@nats-io/transport-node";
import { inboundSubject, InvalidSubjectError, type ChatAddress, type Envelope } from "../bus/index.js";
import { HttpError } from "./errors.js";
import { callerId, httpChatAddress } from "./http-session.js";
import { idempotencyKeyOf, idempotentSession, idempotentTurnId } from "./idempotency.js";
import type { Inbound } from "./inbound.js";
import { allowed, principalOf } from "./principal.js";
import { agentIdFor } from "./tenant-scope.js";
import { TurnFailedError, turnFailureAnswer } from "./turn-failure.js";

/** What the OpenAI endpoints need of the node. */
export interface OpenAiEndpointOptions {
  inbound: Inbound;
  maxPayload: number;
  /** true when an agent of this id exists */
  hasAgent(id: string): boolean;
  /** ms to wait for the reply (default 120 s) */
  timeoutMs?: number;
}

/** A turn to take, addressed and keyed. */
export interface OpenAiTurn {
  agent: string;
  /** the session as the caller named it (or as it was made for them) */
  session: string;
  addr: ChatAddress;
  /** the message id: derived from the Idempotency-Key, else new */
  id: string;
  /** the request carried an Idempotency-Key: sending it again is safe */
  idempotent: boolean;
  input: Record<string, unknown>;
}

/** What a request asks, as the endpoint read it. */
export interface OpenAiAsk {
  model: string;
  /** the user's message text (empty or absent: 400 naming `param`) */
  text: string | undefined;
  /** the field the text comes from, for the 400 */
  param: string;
  /** the session the body names (`user`, or a previous response's) */
  session?: string;
  /** `user`: who the sender is */
  user?: string;
  /** which API (`chat.completions`, `responses`), recorded on the message */
  api: string;
}

/** Checks the caller and the agent and addresses the turn; throws {@link HttpError} (403, 404, 400, 503). */
export function openAiTurn(req: IncomingMessage, o: OpenAiEndpointOptions, ask: OpenAiAsk): OpenAiTurn {
  if (!allowed(req, `agents:invoke:${ask.model}`)) throw new HttpError(403, "forbidden", `this needs the scope agents:invoke:${ask.model}`, "model");
  const principal = principalOf(req);
  // a tenant's models are its own agents: `support` is `<tenant>/support`
  const agent = agentIdFor(principal, ask.model);
  if (!o.hasAgent(agent)) throw new HttpError(404, "model_not_found", `The model \`${ask.model}\` does not exist: no agent has that id`, "model");
  if (!ask.text) throw new HttpError(400, "invalid_request", `${ask.param}: no user message with text to answer`, ask.param);
  const key = idempotencyKeyOf(req);
  o.inbound.checkAvailable();
  const header = req.headers["x-claw-session"];
  const session = (typeof header === "string" && header) || ask.session || (key ? idempotentSession(principal, agent, key) : nuid.next());
  const addr = httpChatAddress(agent, session, principal);
  try {
    inboundSubject(addr);
  } catch (e) {
    // a session name too long once made subject-safe: the caller's to shorten, not a failure to retry
    if (e instanceof InvalidSubjectError)
      throw new HttpError(
        400,
        "invalid_request",
        `the conversation's name is too long: ${e.message}`,
        typeof header === "string" && header ? "X-Claw-Session" : "user",
        { cause: e },
      );
    throw e;
  }
  return {
    agent,
    session,
    addr,
    id: key ? idempotentTurnId(principal, agent, session, key) : nuid.next(),
    idempotent: key !== undefined,
    input: { text: ask.text, sender: { id: callerId(ask.user ?? "http", principal, "user") }, metadata: { agent, api: ask.api } },
  };
}

/**
 * Takes the turn and waits for its reply. A failed turn is thrown as
 * {@link TurnFailedError} while nothing was streamed yet (`streaming()`
 * false), else returned for the endpoint to end its stream with; a reply
 * that does not come in time is a 504 that clients retry only when the
 * request was idempotent (else the retry would be a second turn).
 */
export async function takeTurn(
  o: OpenAiEndpointOptions,
  t: OpenAiTurn,
  stream?: { onDelta: (piece: string) => void; streaming: () => boolean },
): Promise<Envelope> {
  let reply: Envelope;
  try {
    ({ reply } = await o.inbound.converse(t.addr, t.input, { idempotencyKey: t.id, timeoutMs: o.timeoutMs ?? 120_000, onDelta: stream?.onDelta }));
  } catch (e) {
    if (e instanceof HttpError && e.status === 504) throw new HttpError(504, e.code, e.message, undefined, { cause: e, shouldRetry: t.idempotent });
    throw e;
  }
  if (reply.kind === "error" && !stream?.streaming()) throw new TurnFailedError(turnFailureAnswer(reply, 400));
  return reply;
}

/** OpenAI's usage counts from what a reply carries (`metadata.usage`, the provider's count), zeros when none is known. */
export function usageOf(metadata: Record<string, unknown>): { input: number; output: number } {
  const u = metadata["usage"] as { promptTokens?: number; completionTokens?: number } | undefined;
  return { input: u?.promptTokens ?? 0, output: u?.completionTokens ?? 0 };
}
