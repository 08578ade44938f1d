/**
 * `Idempotency-Key` on the request/response endpoints
 * (`/v1/chat/completions`, `/v1/responses`, `/v1/agents/{id}/invoke`): a
 * client's retry of a request is absorbed into the turn the first one
 * started, and answered with that turn's reply.
 *
 * The key becomes the turn's message id, whose JetStream `Nats-Msg-Id`
 * makes `CLAW_IN` drop a second publish within its duplicate window — so the
 * id is derived from the key *and* who sent it and where to: one caller's
 * key can never collide with another caller's (or reach another
 * conversation), whatever either chooses.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Principal } from "../auth/index.js";
import { HttpError } from "./errors.js";
import { ownerOf } from "./http-session.js";

/** Longest key taken (Stripe's and OpenAI's clients send UUIDs or `stainless-node-retry-<uuid>`). */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;

/** The request's `Idempotency-Key` header, or undefined; 400 for one that is empty or too long. */
export function idempotencyKeyOf(req: IncomingMessage): string | undefined {
  const raw = req.headers["idempotency-key"];
  if (raw === undefined) return undefined;
  const key = (Array.isArray(raw) ? raw.join(",") : raw).trim();
  if (key === "" || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw new HttpError(400, "invalid_idempotency_key", `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`, "Idempotency-Key");
  }
  return key;
}

const digest = (...parts: string[]) => createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 32);

/**
 * The message id of `principal`'s turn with `agent` in `session` under
 * `key`: the same for a retry, different for any other caller, agent or
 * session.
 */
export function idempotentTurnId(principal: Principal, agent: string, session: string, key: string): string {
  return `idem-${digest("turn", principal.id, agent, session, key)}`;
}

/**
 * The session of a request that names none but carries a key: a fresh one,
 * yet the same for the request's retries (so they reach the same turn).
 */
export function idempotentSession(principal: Principal, agent: string, key: string): string {
  return `idem-${digest("session", principal.id, agent, key)}`;
}

/**
 * The message id of a message `POST /v1/messages` accepts under `key`: the
 * key itself for the anonymous caller of an open gateway (as it always was),
 * else derived from the key and the caller — so one credential's key cannot
 * absorb another's message as a duplicate, nor tell it that such a key was used.
 */
export function idempotentMessageId(principal: Principal, key: string): string {
  return ownerOf(principal) === undefined ? key : `idem-${digest("message", principal.id, key)}`;
}
