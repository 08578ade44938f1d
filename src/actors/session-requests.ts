/**
 * What a session host is asked and what it answers: the requests (a turn, or
 * mail for a suspended one), how a turn ended and how long its parts took,
 * and the facts the host reports — the shapes the partition runner and the
 * host's own parts (turn-runner.ts, session-table.ts) share.
 */
import { traceIdOf, type Envelope, type SessionMail } from "../bus/index.js";
import type { AgentSpec } from "./agents.js";
import type { SessionSpawn } from "./live-session.js";
import type { TurnFailure } from "./turn.js";

/** What every request to a session carries. */
export interface SessionRequest {
  agent: AgentSpec;
  session: string;
  /** the server's delivery count of the carrying message (1 on first delivery) */
  deliveries: number;
  /** what the lines logged about it carry (default: its session's fields) */
  log?: MessageLogFields;
  /** extends the carrying message's ack deadline (JetStream `working()`) */
  keepAlive: () => void;
  /** aborted when the carrying message must be given back (its partition is handed over) */
  signal?: AbortSignal;
  /**
   * Dead-letters a failed turn. Runs inside the session's queue, so whatever
   * it publishes (an error notice to the sender) comes before the session's next reply.
   */
  onFailed: (outcome: FailedTurn) => Promise<void>;
}

/** A user message for a session. */
export interface TurnRequest extends SessionRequest {
  envelope: Envelope;
}

/** Mail for a session: a tool's result, or the reminder of a deadline. */
export interface MailRequest extends SessionRequest {
  mail: SessionMail;
}

/** A turn that failed for good: dead-letter its message and tell its sender. */
export interface FailedTurn {
  kind: "failed";
  failure: TurnFailure;
  attempts: number;
  firstError: string;
  /** the message whose turn failed (for mail: the turn it resumed) */
  turn: Envelope;
}

/**
 * Where a request's time went, in ms: waiting behind the session's earlier
 * messages, bringing the session into memory when it was not (`spawn`: its
 * KV lookup — a miss for a new session — and its actor's creation), each
 * effect of its machine (`think`, `deliver`, … summed over the tries), and
 * writing its snapshot (`firstSnapshot`: the write that created it).
 */
export interface TurnTiming {
  queueMs: number;
  spawn?: SessionSpawn;
  effects: Record<string, number>;
  snapshotMs: number;
  firstSnapshot?: boolean;
  tries: number;
}

/** How a request ended. */
export type TurnOutcome =
  /** the reply published and the snapshot persisted (or it had been already) */
  | { kind: "answered"; timing?: TurnTiming }
  /** the turn waits for mail (tools); its snapshot is persisted */
  | { kind: "suspended"; timing?: TurnTiming }
  /** mail nobody waits for any more (late, or a duplicate) */
  | { kind: "dropped"; why: string }
  | FailedTurn
  /** the host is stopping, or the message is being handed over: give it back (nak) */
  | { kind: "released" };

/** Lifecycle facts, for logs and metrics. */
export type SessionHostEvent =
  | { type: "session.spawned"; key: string; restored: boolean }
  | { type: "session.passivated"; key: string }
  | ({ type: "turn.retrying"; key: string; attempt: number; delayMs: number; error: string } & MessageLogFields)
  /** a try failed while the bus was unavailable: held until it is back, not counted as an attempt */
  | ({ type: "turn.held"; key: string; attempt: number; code: string; reason: string; error: string } & MessageLogFields)
  | ({ type: "turn.answered"; key: string; ms: number } & MessageLogFields)
  | ({ type: "turn.suspended"; key: string; ms: number } & MessageLogFields);

/** What every log line about a message carries. */
export interface MessageLogFields {
  msg_id: string;
  trace_id?: string;
  partition?: number;
  /** `session/<agent>.<session>`, `ingress/p12` */
  actor: string;
}

/** The log fields of a message handled by a session actor. */
export function sessionLogFields(key: string, e: Envelope, partition?: number): MessageLogFields {
  return { msg_id: e.id, trace_id: e.trace.traceparent ? traceIdOf(e.trace.traceparent) : undefined, partition, actor: `session/${key}` };
}
