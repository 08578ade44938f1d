/**
 * The seam a partition asks before a user message becomes a turn: whoever
 * meters turns (the tenants' quotas) lets it go — with what to call once the
 * turn is settled —, refuses it for good (its sender is told, its message
 * dead-lettered so it can be replayed), or keeps it waiting. A turn that
 * waits holds its message (kept alive) and, through the session's order,
 * the session's later messages; other sessions are not held by it. Mail (a
 * tool's result, a deadline) is never asked about: it belongs to a turn that
 * was already let go.
 */

/** The turn asked about. */
export interface TurnAdmissionRequest {
  /** the agent's stored id (`<tenant>/<agent>` for a tenant's) */
  agent: string;
  session: string;
  /** the message was published by the gateway, which counted it against its tenant's message quota already */
  counted: boolean;
  /** aborted when the message must be given back (its partition is handed over): stop waiting */
  signal: AbortSignal;
}

/** What the partition does with the turn. */
export type TurnAdmitted =
  /** run it; `release` once it is settled (answered, suspended, failed or given back) */
  | { kind: "go"; release: () => void }
  /** refuse it: `code` and `message` are its error notice and its dead letter's reason */
  | { kind: "refused"; code: string; message: string; retryAfterS?: number }
  /** the signal aborted while it waited: give the message back */
  | { kind: "released" };

/** Lets turns in. */
export interface TurnAdmission {
  admit(turn: TurnAdmissionRequest): Promise<TurnAdmitted>;
}

/** Lets every turn in at once. */
export const ADMIT_ALL: TurnAdmission = { admit: () => Promise.resolve({ kind: "go", release: () => {} }) };
