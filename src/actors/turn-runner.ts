/**
 * Runs one request against its session until it is settled: each try sends
 * the decided event, drives the kind's effects within the turn timeout and
 * persists what is to be kept (the snapshot when the turn was answered or
 * suspended); a try that fails is tried again — held, without counting, while
 * the bus is unavailable, backed off while the failure is transient, and
 * given up on (to be dead-lettered) once it is not or the deliveries are spent.
 */
import { backoffDelay, delay, type BackoffPolicy, type BusHealth, type Envelope } from "../bus/index.js";
import { TurnTimeoutError } from "./errors.js";
import type { LiveSession, SessionSpawn } from "./live-session.js";
import type { SessionQueue } from "./session-queue.js";
import type { MessageLogFields, SessionHostEvent, SessionRequest, TurnOutcome, TurnTiming } from "./session-requests.js";
import { decideArrival, type Arrival } from "./turn-decision.js";
import { toFailure, type TurnContext, type TurnDriver, type TurnFailure, type TurnInput } from "./turn.js";

/** A session as the runner needs it: its actor, its kind's driver, its queue. */
export interface HostedSession {
  readonly key: string;
  readonly live: LiveSession;
  readonly driver: TurnDriver;
  readonly queue: SessionQueue;
}

/** One request, as the runner tries it. */
export interface TurnAttempts {
  request: SessionRequest;
  /** what arrived: what each try sends the actor is decided from it on the actor's snapshot */
  arrival: Arrival;
  /** when the host was handed the request (`performance.now()`): its time in the queue */
  queuedSince: number;
}

/** Options of {@link createTurnRunner}. */
export interface TurnRunnerOptions {
  maxDeliver: number;
  backoff: BackoffPolicy;
  turnTimeoutMs: number;
  /** fault injection for crash tests: `session.after-save` (snapshot written, message not yet acked) */
  failpoint?: (name: "session.after-save") => void;
  /** the bus' condition: a try that failed while it is unavailable is held, not counted */
  busHealth?: Pick<BusHealth, "problem" | "whenAvailable">;
  /** aborted when the host stops: requests still trying are given back */
  stopping: AbortSignal;
  emit: (e: SessionHostEvent) => void;
  /** what the lines logged about a request of session `key` carry, once its message is known (unless the request brings its own) */
  log: (key: string, turn: Envelope | undefined) => MessageLogFields;
}

/** Settles requests. */
export interface TurnRunner {
  /** tries `a` until its turn is answered, suspended, dropped, failed for good or given back */
  settle(session: HostedSession, a: TurnAttempts): Promise<TurnOutcome>;
}

/** How one try ended. */
type Tried =
  | { kind: "answered" }
  | { kind: "suspended" }
  | { kind: "dropped"; why: string }
  | { kind: "failure"; failure: TurnFailure; turn?: Envelope; failedSnapshot?: unknown };

const messageOf = (a: Arrival): Envelope | undefined => (a.kind === "message" ? a.envelope : undefined);

/** One try: send the decided event, drive the effects, persist what is to be kept. */
async function tryOnce(
  o: Pick<TurnRunnerOptions, "turnTimeoutMs" | "failpoint">,
  session: HostedSession,
  input: TurnInput,
  arrival: Arrival,
  attempt: number,
  timing: TurnTiming,
): Promise<Tried> {
  let actor;
  try {
    actor = await session.live.actor(input);
  } catch (err) {
    return { kind: "failure", failure: toFailure("", err) };
  }
  addSpawn(timing, session.live.takeSpawn());
  const d = decideArrival(actor.getSnapshot(), arrival, attempt);
  if (d.kind === "answered") return { kind: "answered" };
  if (d.kind === "stale") return { kind: "dropped", why: d.why };
  actor.send(d.event);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new TurnTimeoutError(o.turnTimeoutMs)), o.turnTimeoutMs);
  let state: "settled" | "suspended";
  try {
    timing.tries++;
    state = await session.driver(actor, deadline.signal, (name, ms) => (timing.effects[name] = (timing.effects[name] ?? 0) + ms));
  } catch (err) {
    session.live.drop(); // left mid-turn: the next try starts from the persisted snapshot
    return { kind: "failure", failure: toFailure(d.turn.id, err), turn: d.turn };
  } finally {
    clearTimeout(timer);
  }
  const after: TurnContext = actor.getSnapshot().context;
  if (state === "suspended" || after.lastTurnId === d.turn.id) {
    try {
      const saving = performance.now();
      if (session.live.revision === 0) timing.firstSnapshot = true;
      await session.live.save(actor.getPersistedSnapshot());
      timing.snapshotMs += performance.now() - saving;
      o.failpoint?.("session.after-save");
    } catch (err) {
      // memory must never run ahead of KV: reload on the next try (a SnapshotConflictError
      // means another owner moved on; its state is the truth)
      session.live.drop();
      return { kind: "failure", failure: toFailure(d.turn.id, err), turn: d.turn };
    }
    return state === "suspended" ? { kind: "suspended" } : { kind: "answered" };
  }
  const failure = after.failure ?? toFailure(d.turn.id, new Error("the turn ended without an answer"));
  // a resumed turn that fails for good must not leave the stored session waiting forever
  const failedSnapshot = d.resumes ? actor.getPersistedSnapshot() : undefined;
  session.live.drop();
  return { kind: "failure", failure, turn: d.turn, failedSnapshot };
}

/** Counts a spawn of the session's actor into the request's timing (a try after a failure may spawn it again). */
function addSpawn(timing: TurnTiming, s: SessionSpawn | undefined): void {
  if (!s) return;
  timing.spawn = timing.spawn
    ? { loadMs: timing.spawn.loadMs + s.loadMs, createMs: timing.spawn.createMs + s.createMs, restored: s.restored }
    : { loadMs: s.loadMs, createMs: s.createMs, restored: s.restored };
}

/** The outcome of a request whose try failed for good: the failed turn (its resumed snapshot written first), or nothing to fail. */
async function giveUp(
  session: HostedSession,
  r: Extract<Tried, { kind: "failure" }>,
  attempt: number,
  firstError: string,
  turn: Envelope | undefined,
): Promise<TurnOutcome> {
  if (r.failedSnapshot !== undefined) {
    // best effort: the next mail or message finds it again
    await session.queue.serial(() => session.live.save(r.failedSnapshot)).catch(() => undefined);
  }
  // no turn was found to fail (the session could not even be loaded): nothing waits for this mail
  if (!turn) return { kind: "dropped", why: `the session could not be loaded: ${r.failure.message}` };
  return { kind: "failed", failure: r.failure, attempts: attempt, firstError, turn };
}

/** Creates a runner (it runs nothing until asked to settle a request). */
export function createTurnRunner(o: TurnRunnerOptions): TurnRunner {
  return {
    async settle(session, a) {
      const req = a.request;
      const input: TurnInput = { agent: req.agent.id, session: req.session, historyLimit: req.agent.historyLimit };
      const started = Date.now();
      const timing: TurnTiming = { queueMs: performance.now() - a.queuedSince, effects: {}, snapshotMs: 0, tries: 0 };
      // spawned while the request waited (its check whether the session's turn is suspended): not time in the queue
      addSpawn(timing, session.live.takeSpawn());
      if (timing.spawn) timing.queueMs = Math.max(0, timing.queueMs - timing.spawn.loadMs - timing.spawn.createMs);
      let firstError: string | undefined;
      let lastTurn: Envelope | undefined;
      for (let local = 0; ; local++) {
        if (o.stopping.aborted || req.signal?.aborted) return { kind: "released" };
        const attempt = req.deliveries + local;
        const r = await session.queue.serial(() => tryOnce(o, session, input, a.arrival, attempt, timing));
        // the message the request is about: a user message is; mail's is the turn it resumed, which a try that failed names
        lastTurn = (r.kind === "failure" ? r.turn : undefined) ?? lastTurn ?? messageOf(a.arrival);
        const log = req.log ?? o.log(session.key, lastTurn);
        if (r.kind === "answered" || r.kind === "suspended") {
          o.emit({ type: r.kind === "answered" ? "turn.answered" : "turn.suspended", key: session.key, ms: Date.now() - started, ...log });
          return { kind: r.kind, timing };
        }
        if (r.kind === "dropped") return r;
        const down = r.failure.transient ? o.busHealth?.problem() : undefined;
        if (down) {
          o.emit({ type: "turn.held", key: session.key, attempt, code: down.code, reason: down.reason, error: r.failure.message, ...log });
          await o.busHealth!.whenAvailable(o.stopping);
          local--; // the same attempt again: the bus failed, not the turn
          continue;
        }
        firstError ??= r.failure.message;
        if (!r.failure.transient || attempt >= o.maxDeliver) return giveUp(session, r, attempt, firstError, lastTurn);
        const delayMs = backoffDelay(o.backoff, attempt - 1);
        o.emit({ type: "turn.retrying", key: session.key, attempt, delayMs, error: r.failure.message, ...log });
        await delay(delayMs, o.stopping);
      }
    },
  };
}
