/**
 * Model failures, classified once where they happen: a transient one is retried
 * with backoff, a permanent one dead-letters the message.
 */
export class ModelError extends Error {
  readonly code: string;
  readonly transient: boolean;
  constructor(code: string, message: string, transient: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ModelError";
    this.code = code;
    this.transient = transient;
  }
}
