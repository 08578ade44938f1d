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

/**
 * A session's snapshot was written by a newer Claw (a format this node does
 * not know): the node leaves the session alone — overwriting it would lose
 * what the newer format holds — and the turn is tried again, by a newer node
 * once one runs the session (during a rolling upgrade, within seconds).
 */
export class SnapshotFormatError extends Error {
  readonly code = "SNAPSHOT_TOO_NEW";
  readonly transient = true;
  constructor(key: string, format: unknown, known: number) {
    super(`session ${key} was saved in snapshot format ${String(format)} by a newer Claw; this node reads format ${known}: left to a newer node`);
    this.name = "SnapshotFormatError";
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

/** An agent names a kind this node does not know: its messages fail for good here. */
export class UnknownAgentKindError extends Error {
  readonly code = "no_kind";
  readonly transient = false;
  constructor(agent: string, kind: string, known: readonly string[]) {
    super(`agent ${agent}: unknown kind ${kind} (known: ${known.join(", ")})`);
    this.name = "UnknownAgentKindError";
  }
}
