/**
 * How a turn that failed is answered over HTTP, so that a client's own retry
 * policy does the right thing. Whether a failure may pass was decided once,
 * where it happened (the session host's `TurnFailure.transient`: a provider
 * down or slow, a timeout); the error notice that ends the turn carries it as
 * `metadata.retryable` beside the failure's `metadata.code`. Here it only
 * becomes a status:
 *
 * - a failure that will happen again (a provider refusing the request, a
 *   scripted `/fail`, a message that crashes nodes) answers a status stock
 *   clients do not retry, with `x-should-retry: false` — otherwise every
 *   retry of the OpenAI SDK, the AI SDK or LangChain is one more turn and one
 *   more dead letter;
 * - a transient one answers 503 with `Retry-After`: sent again later, it may
 *   well succeed;
 * - a turn a tenant's quota refused (`quota_exceeded`, with the notice's
 *   `metadata.retryAfterS`) answers 429 with that `Retry-After`.
 */
import type { Envelope } from "../bus/index.js";
import { HttpError } from "./errors.js";

/** Seconds a client should wait before sending a request whose turn failed transiently. */
export const TRANSIENT_RETRY_AFTER_S = 5;

/** A failed turn as an HTTP answer. */
export interface TurnFailureAnswer {
  status: number;
  /** the agent's failure code (`scripted_fail`, `provider_auth`, `max_deliveries`, …) */
  code: string;
  message: string;
  retryable: boolean;
  headers: Record<string, string>;
  /** seconds a client should wait (429, 503) */
  retryAfterS?: number;
}

/** The code of a turn a tenant's quota refused. */
export const QUOTA_EXCEEDED = "quota_exceeded";

/**
 * The answer to a turn that ended with `reply` (`kind: "error"`).
 *
 * @param permanentStatus the status of a failure that will not pass: 400 on
 *   OpenAI's endpoints (the one status below 500 that neither the OpenAI
 *   SDKs, the AI SDK nor LangChain retry), 502 on Claw's own invoke
 */
export function turnFailureAnswer(reply: Envelope, permanentStatus: number): TurnFailureAnswer {
  const code = typeof reply.metadata["code"] === "string" && reply.metadata["code"] ? reply.metadata["code"] : "agent_failed";
  const message = reply.text || "the agent failed";
  if (code === QUOTA_EXCEEDED) {
    // a tenant's quota refused the turn where it was to run (a session past `sessions`, tokens past `tokensPerDay`): 429, as at the door
    const after = Number(reply.metadata["retryAfterS"]);
    const retryAfterS = Number.isFinite(after) && after >= 1 ? Math.ceil(after) : TRANSIENT_RETRY_AFTER_S;
    return { status: 429, code, message, retryable: true, headers: { "retry-after": String(retryAfterS) }, retryAfterS };
  }
  if (reply.metadata["retryable"] === true) {
    return { status: 503, code, message, retryable: true, headers: { "retry-after": String(TRANSIENT_RETRY_AFTER_S) } };
  }
  return { status: permanentStatus, code, message, retryable: false, headers: { "x-should-retry": "false" } };
}

/** A turn that failed, thrown by the endpoints that answer before streaming (its status and headers from {@link turnFailureAnswer}). */
export class TurnFailedError extends HttpError {
  readonly retryable: boolean;
  constructor(a: TurnFailureAnswer) {
    super(a.status, a.code, a.message, undefined, a.retryable ? { retryAfterS: a.retryAfterS ?? TRANSIENT_RETRY_AFTER_S } : { shouldRetry: false });
    this.name = "TurnFailedError";
    this.retryable = a.retryable;
  }
}
