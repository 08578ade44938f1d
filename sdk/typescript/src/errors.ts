/**
 * The one error the SDK throws for a call that failed: what the node answered
 * (its status, its error code and message, the field it named), or, with
 * status 0, that no answer came (`network_error`, `timeout`).
 */
export class ClawError extends Error {
  /** the HTTP status; 0 when no answer came */
  readonly status: number;
  /** the node's error code (`no_agent`, `invalid_body`, `unavailable`, …), or `network_error` / `timeout` */
  readonly code: string;
  /** the offending field of a body or query, when the node named one */
  readonly field: string | undefined;
  /** how long the node asked to wait before trying again (`Retry-After`), in ms */
  readonly retryAfterMs: number | undefined;
  /** the answer's body as it came (JSON parsed), for what the fields above do not carry */
  readonly body: unknown;
  constructor(status: number, code: string, message: string, o: { field?: string; retryAfterMs?: number; body?: unknown; cause?: unknown } = {}) {
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = "ClawError";
    this.status = status;
    this.code = code;
    this.field = o.field;
    this.retryAfterMs = o.retryAfterMs;
    this.body = o.body;
  }
}

/** `Retry-After` (seconds, or an HTTP date) in ms; undefined when absent or unreadable. */
export function retryAfterMsOf(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const s = Number(value);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * The error a failed answer stands for. Claw answers `{ error: { code, message, field? } }`, its
 * OpenAI-compatible routes OpenAI's `{ error: { message, type, param, code } }`, and a failed agent
 * turn `{ message_id, session, reply, error: { code, retryable } }`: each is read here.
 */
export function errorOf(status: number, statusText: string, body: unknown, retryAfter: string | null): ClawError {
  const b = (body ?? {}) as { error?: Record<string, unknown>; reply?: { text?: unknown } };
  const e = typeof b.error === "object" && b.error !== null ? b.error : {};
  const code = str(e.code) ?? str(e.type) ?? `http_${status}`;
  const message = str(e.message) ?? str(b.reply?.text) ?? (typeof body === "string" && body ? body : `${status} ${statusText}`.trim());
  return new ClawError(status, code, message, { field: str(e.field) ?? str(e.param), retryAfterMs: retryAfterMsOf(retryAfter), body });
}
