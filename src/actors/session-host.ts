/**
 * Runs session actors on a node, whatever their agent kind: spawns them on
 * demand (restored from KV), feeds each its messages strictly in order,
 * drives their effects with the one driver, persists the snapshot when a turn
 * is answered or suspends, retries transient failures in place with backoff,
 * holds turns while NATS is unavailable, and passivates idle sessions. It
 * knows a kind only through the contract of turn.ts.
 *
 * This is the host's face: its requests and outcomes, and the front that
 * puts together the sessions it holds (session-table.ts: each with its queue,
 * session-queue.ts, and its actor, live-session.ts), what each request sends
 * (turn-decision.ts) and the tries that settle it (turn-runner.ts).
 *
 * A turn that suspends (its tools are out) is persisted and its message
 * acked; the tools' results come as mail and resume it, here or on the node
 * that owns the partition next. A user message for a session whose turn is
 * suspended waits its turn (or, for an agent with `interrupt`, cancels the
 * waiting tools); mail is never kept waiting behind it.
 */
import { traceIdOf, type BackoffPolicy, type BusHealth, type Envelope, type SessionMail } from "../bus/index.js";
import type { AgentDeps } from "./agent-deps.js";
import { AGENT_KINDS } from "./agent-kinds.js";
import type { AgentSpec } from "./agents.js";
import { SnapshotFormatError } from "./errors.js";
import type { SessionInspection } from "./live-session.js";
import type { SessionStore } from "./session-store.js";
import { createSessionTable } from "./session-table.js";
import { createTurnRunner, type HostedSession, type TurnAttempts } from "./turn-runner.js";
import { mailEvent, SUSPENDED_TAG, toFailure, type AgentKind, type TurnFailure } from "./turn.js";

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
 * messages, each effect of its machine (`think`, `deliver`, … summed over
 * the tries), and writing its snapshot.
 */
export interface TurnTiming {
  queueMs: number;
  effects: Record<string, number>;
  snapshotMs: number;
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

/** Options of {@link startSessionHost}. */
export interface SessionHostOptions {
  store: SessionStore;
  /** what the agent kinds' effects may use */
  deps: AgentDeps;
  /** the agent kinds (default: all of `AGENT_KINDS`) */
  kinds?: ReadonlyMap<string, AgentKind>;
  maxDeliver: number;
  backoff: BackoffPolicy;
  /** passivate sessions idle this long */
  idleMs: number;
  turnTimeoutMs: number;
  /** how often to extend the ack deadline of a message in progress */
  keepAliveMs: number;
  /** fault injection for crash tests: `session.after-save` (snapshot written, message not yet acked) */
  failpoint?: (name: "session.after-save") => void;
  /**
   * The bus' condition: a try that fails while NATS is unavailable (down,
   * stalled, its store full) waits until it is back and is tried again
   * without counting as an attempt, so an outage dead-letters nothing.
   */
  busHealth?: Pick<BusHealth, "problem" | "whenAvailable">;
  /** XState inspection of each session actor (live events, drawn with its kind's machine); `forget` when it stops */
  inspection?: SessionInspection;
  onEvent?: (e: SessionHostEvent) => void;
}

/** The session runner of one node. */
export interface SessionHost {
  /** a user message */
  deliver(req: TurnRequest): Promise<TurnOutcome>;
  /** mail for a session (a tool's result, a deadline) */
  deliverMail(req: MailRequest): Promise<TurnOutcome>;
  /** live (in-memory) sessions */
  readonly active: number;
  /** passivate every idle session now; returns how many */
  passivateIdle(olderThanMs?: number): number;
  /** wait for in-flight turns, then stop every actor */
  stop(): Promise<void>;
}

/**
 * Resolves true once the session's turn is not suspended, false when the
 * request must be given back (the host stops, or the message is handed over).
 */
async function untilResumed(s: HostedSession, req: TurnRequest, stopping: AbortSignal): Promise<boolean> {
  const input = { agent: req.agent.id, session: req.session, historyLimit: req.agent.historyLimit };
  for (;;) {
    if (stopping.aborted || req.signal?.aborted) return false;
    // a session saved by a newer Claw is not suspended as far as this node can tell: the turn's own tries
    // (counted, then dead-lettered) decide, instead of a wait that would hold the message forever
    const suspended = await s.queue
      .serial(async (): Promise<boolean> => (await s.live.actor(input)).getSnapshot().hasTag(SUSPENDED_TAG))
      .catch((err: unknown) => (err instanceof SnapshotFormatError ? false : undefined));
    if (suspended === false) return true;
    // woken after the next operation on the session (its mail), or after a while when the check itself failed
    if (!(await s.queue.nextOperation([stopping, req.signal], suspended === undefined ? 1_000 : undefined))) return false;
  }
}

/** Fails a message at once, for good (its agent cannot run here). */
async function failNow(req: SessionRequest, turn: Envelope, err: unknown): Promise<TurnOutcome> {
  const failure = { ...toFailure(turn.id, err), transient: false };
  const outcome: FailedTurn = { kind: "failed", failure, attempts: req.deliveries, firstError: failure.message, turn };
  await req.onFailed(outcome);
  return outcome;
}

/**
 * Starts a session host: its sweeper passivates idle sessions from now on
 * (until {@link SessionHost.stop}); sessions are spawned as requests come.
 */
export function startSessionHost(o: SessionHostOptions): SessionHost {
  const emit = o.onEvent ?? (() => {});
  const stopping = new AbortController();
  const sessions = createSessionTable({ kinds: o.kinds ?? AGENT_KINDS, deps: o.deps, store: o.store, inspection: o.inspection, onEvent: emit });
  const runner = createTurnRunner({
    ...o,
    stopping: stopping.signal,
    emit,
    log: (key, turn) => (turn ? sessionLogFields(key, turn) : { msg_id: "?", actor: `session/${key}` }),
  });
  const passivateIdle = (olderThanMs = o.idleMs) => sessions.passivateIdle(Date.now() - olderThanMs);
  const sweeper = setInterval(() => passivateIdle(), Math.max(250, Math.floor(o.idleMs / 4)));
  sweeper.unref();

  /** Counts a request in (its session is not passivated meanwhile), keeps its message alive while `run` settles it, and dead-letters it when it failed. */
  function handle(s: HostedSession, req: SessionRequest, run: () => Promise<TurnOutcome>): Promise<TurnOutcome> {
    return s.queue.busy(async () => {
      const keepAlive = setInterval(req.keepAlive, o.keepAliveMs);
      try {
        const outcome = await run();
        if (outcome.kind === "failed") await req.onFailed(outcome);
        return outcome;
      } finally {
        clearInterval(keepAlive);
      }
    });
  }

  return {
    deliver(req) {
      let s: HostedSession;
      try {
        s = sessions.get(req.agent, req.session);
      } catch (err) {
        return failNow(req, req.envelope, err);
      }
      const attempts: TurnAttempts = { request: req, arrival: { kind: "message", envelope: req.envelope }, queuedSince: performance.now() };
      // strictly in order per session: each message starts when the previous one has ended
      return s.queue.inOrder(() =>
        handle(s, req, async () => {
          if (!req.agent.interrupt && !(await untilResumed(s, req, stopping.signal))) return { kind: "released" };
          return runner.settle(s, attempts);
        }),
      );
    },
    deliverMail(req) {
      let s: HostedSession;
      try {
        s = sessions.get(req.agent, req.session);
      } catch (err) {
        return Promise.resolve({ kind: "dropped", why: `cannot run the session: ${(err as Error).message}` });
      }
      const attempts: TurnAttempts = { request: req, arrival: { kind: "mail", event: mailEvent(req.mail) }, queuedSince: performance.now() };
      return handle(s, req, () => runner.settle(s, attempts));
    },
    get active() {
      return sessions.active;
    },
    passivateIdle,
    async stop() {
      clearInterval(sweeper);
      stopping.abort();
      await sessions.stopAll();
    },
  };
}
