/**
 * Failures of the model layer. A provider's failure is classified once, where
 * it enters (the provider): unreachable or overloaded — worth retrying and
 * failing over — or refused, which no retry changes.
 */

/** A turn's model step failed; `transient` decides: retry the turn, or dead-letter it. */
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

/** The provider could not answer now: 429, 5xx, a timeout, a refused or broken connection. */
export class ProviderUnavailableError extends Error {
  override readonly name = "ProviderUnavailableError";
  constructor(
    readonly provider: string,
    message: string,
    /** HTTP status, when there was a response */
    readonly status: number | undefined,
    /** what the provider asked us to wait (`Retry-After`), if it did */
    readonly retryAfterMs: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(`${provider}: ${message}`, options);
  }
}

/** The provider refused the request (a 4xx other than 429): the same request would be refused again. */
export class ProviderRejectedError extends Error {
  override readonly name = "ProviderRejectedError";
  constructor(
    readonly provider: string,
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${provider} refused the request (${status}): ${message}`, options);
  }
}
