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

/** An agent specification that cannot be registered; `field` names what is wrong. */
export class AgentSpecError extends Error {
  readonly code = "invalid_agent";
  readonly transient = false;
  constructor(
    message: string,
    readonly field: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "AgentSpecError";
  }
}
