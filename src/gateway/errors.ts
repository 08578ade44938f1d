/**
 * Errors the gateway turns into HTTP responses.
 */

/** A failure with an HTTP status, a stable code and, for validation, the offending field. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  /** seconds, sent as `Retry-After` (503, 429) */
  readonly retryAfterS: number | undefined;
  /**
   * whether a client should send the same request again, when its status
   * alone would mislead: sent as `x-should-retry`, which the OpenAI-generated
   * client libraries obey over the status
   */
  readonly shouldRetry: boolean | undefined;
  constructor(status: number, code: string, message: string, field?: string, options?: { cause?: unknown; retryAfterS?: number; shouldRetry?: boolean }) {
    super(message, options);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfterS = options?.retryAfterS;
    this.shouldRetry = options?.shouldRetry;
  }

  /** The headers that carry its retry advice (`Retry-After`, `x-should-retry`). */
  headers(): Record<string, string> {
    return {
      ...(this.retryAfterS !== undefined ? { "retry-after": String(this.retryAfterS) } : {}),
      ...(this.shouldRetry !== undefined ? { "x-should-retry": String(this.shouldRetry) } : {}),
    };
  }
}

/** How long a client should wait before retrying while NATS is unavailable. */
export const UNAVAILABLE_RETRY_AFTER_S = 2;

/** 503 for a request that cannot be accepted because the bus cannot take it now. */
export function unavailableError(problem: { code: string; reason: string }, options?: { cause?: unknown }): HttpError {
  const message =
    problem.code === "storage_full"
      ? `messages cannot be accepted now: ${problem.reason} (JetStream refuses writes until space is freed); retry later`
      : `messages cannot be accepted now: ${problem.reason}; retry later`;
  return new HttpError(503, problem.code === "storage_full" ? "storage_full" : "unavailable", message, undefined, {
    ...options,
    retryAfterS: UNAVAILABLE_RETRY_AFTER_S,
  });
}

/** The gateway's handlers and its route table disagree: a defect, thrown when the gateway starts (never for a request). */
export class RouteTableError extends Error {
  readonly code = "route_table_mismatch";
  readonly missing: string[];
  readonly extra: string[];
  constructor(missing: string[], extra: string[]) {
    super(
      `the gateway's handlers do not match its route table: without a handler ${missing.join(", ") || "none"}; without a route ${extra.join(", ") || "none"}`,
    );
    this.name = "RouteTableError";
    this.missing = missing;
    this.extra = extra;
  }
}
