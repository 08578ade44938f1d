/**
 * Runs session actors on a node, whatever their agent kind: spawns them on
 * demand (restored from KV), feeds each its messages strictly in order,
 * drives their effects with the one driver, persists the snapshot when a turn
 * is answered or suspends, retries transient failures in place with backoff,
 * holds turns while NATS is unavailable, and passivates idle sessions. It
 * knows a kind only through the contract of turn.ts.
 *
 * This is the host's face (its requests and outcomes are session-requests.ts): the front that
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
import { type BackoffPolicy, type BusHealth, type Envelope } from "../bus/index.js";
import type { AgentDeps } from "./agent-deps.js";
import { AGENT_KINDS } from "./agent-kinds.js";
import { SnapshotFormatError } from "./errors.js";
import type { SessionInspection } from "./live-session.js";
import type { SessionStore } from "./session-store.js";
import { createSessionTable } from "./session-table.js";
import { createTurnRunner, type HostedSession, type TurnAttempts } from "./turn-runner.js";
import {
  type SessionRequest,
  type TurnRequest,
  type MailRequest,
  type FailedTurn,
  type TurnOutcome,
  type SessionHostEvent,
  sessionLogFields,
} from "./session-requests.js";
import { mailEvent, SUSPENDED_TAG, toFailure, type AgentKind } from "./turn.js";

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
