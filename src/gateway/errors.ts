/**
 * Errors the gateway turns into HTTP responses.
 */

/** A failure with an HTTP status, a stable code and, for validation, the offending field. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  constructor(status: number, code: string, message: string, field?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.field = field;
  }
}
