/**
 * Failures of the actor layer.
 */

/** Another owner wrote the session snapshot first: reload, never overwrite. */
export class SnapshotConflictError extends Error {
  readonly code = "SNAPSHOT_CONFLICT";
  readonly transient = true;
  readonly key: string;
  constructor(key: string, options?: { cause?: unknown }) {
    super(`session ${key} was written by another owner`, options);
    this.name = "SnapshotConflictError";
    this.key = key;
  }
}

/** A turn took longer than the turn timeout. */
export class TurnTimeoutError extends Error {
  readonly code = "TURN_TIMEOUT";
  readonly transient = true;
  constructor(ms: number) {
    super(`turn did not finish within ${ms} ms`);
    this.name = "TurnTimeoutError";
  }
}
