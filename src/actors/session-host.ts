/**
 * Runs session actors on a node, whatever their agent kind: spawns them on
 * demand (restored from KV), feeds each its messages strictly in order,
 * drives their effects with the one driver, persists the snapshot when a turn
 * is answered or suspends, retries transient failures in place with backoff,
 * holds turns while NATS is unavailable, and passivates idle sessions.
 *
 * A turn that suspends (its tools are out) is persisted and its message
 * acked; the tools' results come as mail and resume it, here or on the node
 * that owns the partition next. A user message for a session whose turn is
 * suspended waits its turn (or, for an agent with `interrupt`, cancels the
 * waiting tools); mail is never kept waiting behind it.
 */
import { createActor, type AnyActorRef, type AnyMachineSnapshot, type EventObject } from "xstate";
import { backoffDelay, delay, sessionKey, traceIdOf, type BackoffPolicy, type BusHealth, type Envelope, type SessionMail } from "../bus/index.js";
import type { AgentDeps } from "./agent-deps.js";
import { driveActor, SUSPENDED_TAG, type AgentEffects } from "../effect-driver.js";
import { AGENT_KINDS, type AgentKind } from "./agent-kinds.js";
import type { AgentSpec } from "./agents.js";
import { toFailure, type TurnFailure } from "./assistant.machine.js";
import { SnapshotFormatError, TurnTimeoutError } from "./errors.js";
import type { SessionStore } from "./session-store.js";

/** What every request to a session carries. */
interface SessionRequest {
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

/** Options of {@link createSessionHost}. */
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
  /** XState inspection of each session actor (live events); `forget` when it stops */
  inspection?: { register(kind: "session", id: string, actor: AnyActorRef): void; forget(kind: "session", id: string): void };
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

interface Entity {
  key: string;
  kind: AgentKind;
  effects: AgentEffects;
  actor?: AnyActorRef;
  revision: number;
  /** operations on the actor, one at a time */
  tail: Promise<unknown>;
  /** user messages, one after another (each waits while a turn is suspended) */
  turns: Promise<unknown>;
  /** user messages waiting for a suspended turn to end: woken after every operation */
  waiting: Array<() => void>;
  queued: number;
  lastUsed: number;
}

/** An event for an agent machine (its own type is the kind's business). */
type AgentEvent = EventObject & Record<string, unknown>;

/** What a try sends the actor, decided on its current snapshot. */
type Decision =
  | { kind: "answered" }
  | { kind: "stale"; why: string }
  | { kind: "send"; event: AgentEvent; turn: Envelope; resumes: boolean };

/** How one try ended. */
type Tried = { kind: "answered" } | { kind: "suspended" } | { kind: "dropped"; why: string } | { kind: "failure"; failure: TurnFailure; turn?: Envelope; failedSnapshot?: unknown };

/** The event a piece of mail is for the session machine. */
function mailEvent(mail: SessionMail): AgentEvent {
  if (mail.type === "tool.deadline") return { type: "tool.deadline", callIds: mail.callIds };
  const content = mail.ok ? JSON.stringify(mail.output ?? null) : `error (${mail.error?.code ?? "error"}): ${mail.error?.message ?? "the tool failed"}`;
  return { type: "tool.result", callId: mail.callId, ok: mail.ok, content };
}

type Context = { lastTurnId?: string; current?: { envelope: Envelope }; failure?: TurnFailure };
const contextOf = (s: AnyMachineSnapshot) => s.context as Context;

/** Creates a session host. */
export function createSessionHost(o: SessionHostOptions): SessionHost {
  const kinds = o.kinds ?? AGENT_KINDS;
  const effectsByKind = new Map<AgentKind, AgentEffects>();
  const entities = new Map<string, Entity>();
  const stopping = new AbortController();
  const sweeper = setInterval(() => host.passivateIdle(), Math.max(250, Math.floor(o.idleMs / 4)));
  sweeper.unref();
  const emit = o.onEvent ?? (() => {});

  function entity(agent: AgentSpec, session: string): Entity {
    const key = sessionKey(agent.id, session);
    let e = entities.get(key);
    if (!e) {
      const kind = kinds.get(agent.kind);
      if (!kind) throw Object.assign(new Error(`agent ${agent.id}: unknown kind ${agent.kind} (known: ${[...kinds.keys()].join(", ")})`), { code: "no_kind", transient: false });
      let effects = effectsByKind.get(kind);
      if (!effects) effectsByKind.set(kind, (effects = kind.effects(o.deps)));
      e = { key, kind, effects, revision: 0, tail: Promise.resolve(), turns: Promise.resolve(), waiting: [], queued: 0, lastUsed: Date.now() };
      entities.set(key, e);
    }
    return e;
  }

  /** Runs `op` after the entity's previous operations; wakes the messages waiting behind a suspended turn after it. */
  function serial<T>(e: Entity, op: () => Promise<T>): Promise<T> {
    const r = e.tail.then(op);
    e.tail = r
      .catch(() => undefined)
      .finally(() => {
        for (const wake of e.waiting.splice(0)) wake();
      });
    return r;
  }

  async function load(e: Entity, agent: AgentSpec, session: string): Promise<AnyActorRef> {
    if (e.actor) return e.actor;
    const stored = await o.store.load(e.key);
    const input = { agent: agent.id, session, historyLimit: agent.historyLimit };
    const actor = createActor(e.kind.machine, stored.snapshot ? { input, snapshot: stored.snapshot as never } : { input });
    o.inspection?.register("session", e.key, actor);
    actor.start();
    e.actor = actor;
    e.revision = stored.revision;
    emit({ type: "session.spawned", key: e.key, restored: stored.snapshot !== undefined });
    return actor;
  }

  function drop(e: Entity): void {
    if (e.actor) o.inspection?.forget("session", e.key);
    e.actor?.stop();
    e.actor = undefined;
  }

  /** One try: send the decided event, drive the effects, persist what is to be kept. */
  async function tryOnce(e: Entity, req: SessionRequest, decide: (s: AnyMachineSnapshot, attempt: number) => Decision, attempt: number, timing: TurnTiming): Promise<Tried> {
    let actor: AnyActorRef;
    try {
      actor = await load(e, req.agent, req.session);
    } catch (err) {
      return { kind: "failure", failure: toFailure("", err) };
    }
    const d = decide(actor.getSnapshot() as AnyMachineSnapshot, attempt);
    if (d.kind === "answered") return { kind: "answered" };
    if (d.kind === "stale") return { kind: "dropped", why: d.why };
    actor.send(d.event);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new TurnTimeoutError(o.turnTimeoutMs)), o.turnTimeoutMs);
    let state: "settled" | "suspended";
    try {
      timing.tries++;
      state = await driveActor(actor, e.effects, deadline.signal, (name, ms) => (timing.effects[name] = (timing.effects[name] ?? 0) + ms));
    } catch (err) {
      drop(e); // left mid-turn: the next try starts from the persisted snapshot
      return { kind: "failure", failure: toFailure(d.turn.id, err), turn: d.turn };
    } finally {
      clearTimeout(timer);
    }
    const after = actor.getSnapshot() as AnyMachineSnapshot;
    if (state === "suspended" || contextOf(after).lastTurnId === d.turn.id) {
      try {
        const saving = performance.now();
        e.revision = await o.store.save(e.key, actor.getPersistedSnapshot(), e.revision);
        timing.snapshotMs += performance.now() - saving;
        o.failpoint?.("session.after-save");
      } catch (err) {
        // memory must never run ahead of KV: reload on the next try (a SnapshotConflictError
        // means another owner moved on; its state is the truth)
        drop(e);
        return { kind: "failure", failure: toFailure(d.turn.id, err), turn: d.turn };
      }
      return state === "suspended" ? { kind: "suspended" } : { kind: "answered" };
    }
    const failure = contextOf(after).failure ?? toFailure(d.turn.id, new Error("the turn ended without an answer"));
    // a resumed turn that fails for good must not leave the stored session waiting forever
    const failedSnapshot = d.resumes ? actor.getPersistedSnapshot() : undefined;
    drop(e);
    return { kind: "failure", failure, turn: d.turn, failedSnapshot };
  }

  /** Tries until answered, suspended or dropped, holding while the bus is down and backing off on transient failures. */
  async function settle(e: Entity, req: SessionRequest, decide: (s: AnyMachineSnapshot, attempt: number) => Decision, fallbackTurn: () => Envelope | undefined, queuedSince: number): Promise<TurnOutcome> {
    const started = Date.now();
    const timing: TurnTiming = { queueMs: performance.now() - queuedSince, effects: {}, snapshotMs: 0, tries: 0 };
    let firstError: string | undefined;
    let lastTurn: Envelope | undefined;
    for (let local = 0; ; local++) {
      if (stopping.signal.aborted || req.signal?.aborted) return { kind: "released" };
      const attempt = req.deliveries + local;
      const r = await serial(e, () => tryOnce(e, req, decide, attempt, timing));
      lastTurn = (r.kind === "failure" ? r.turn : undefined) ?? lastTurn ?? fallbackTurn();
      const log = req.log ?? (lastTurn ? sessionLogFields(e.key, lastTurn) : { msg_id: "?", actor: `session/${e.key}` });
      if (r.kind === "answered" || r.kind === "suspended") {
        emit({ type: r.kind === "answered" ? "turn.answered" : "turn.suspended", key: e.key, ms: Date.now() - started, ...log });
        return { kind: r.kind, timing };
      }
      if (r.kind === "dropped") return r;
      const down = r.failure.transient ? o.busHealth?.problem() : undefined;
      if (down) {
        emit({ type: "turn.held", key: e.key, attempt, code: down.code, reason: down.reason, error: r.failure.message, ...log });
        await o.busHealth!.whenAvailable(stopping.signal);
        local--; // the same attempt again: the bus failed, not the turn
        continue;
      }
      firstError ??= r.failure.message;
      if (!r.failure.transient || attempt >= o.maxDeliver) {
        if (r.failedSnapshot !== undefined) {
          await serial(e, async () => {
            e.revision = await o.store.save(e.key, r.failedSnapshot, e.revision);
          }).catch(() => undefined); // best effort: the next mail or message finds it again
        }
        const turn = lastTurn ?? fallbackTurn();
        // no turn was found to fail (the session could not even be loaded): nothing waits for this mail
        if (!turn) return { kind: "dropped", why: `the session could not be loaded: ${r.failure.message}` };
        return { kind: "failed", failure: r.failure, attempts: attempt, firstError, turn };
      }
      const delayMs = backoffDelay(o.backoff, attempt - 1);
      emit({ type: "turn.retrying", key: e.key, attempt, delayMs, error: r.failure.message, ...log });
      await delay(delayMs, stopping.signal);
    }
  }

  /** Resolves true once the session's turn is not suspended, false when the request must be given back. */
  async function untilResumed(e: Entity, req: TurnRequest): Promise<boolean> {
    for (;;) {
      if (stopping.signal.aborted || req.signal?.aborted) return false;
      // a session saved by a newer Claw is not suspended as far as this node can tell: the turn's own tries
      // (counted, then dead-lettered) decide, instead of a wait that would hold the message forever
      const suspended = await serial(e, async () => (await load(e, req.agent, req.session)).getSnapshot().hasTag(SUSPENDED_TAG) as boolean).catch((err: unknown) => (err instanceof SnapshotFormatError ? false : undefined));
      if (suspended === false) return true;
      // woken after the next operation on the session (its mail), or after a while when the check itself failed
      const woke = await new Promise<boolean>((resolve) => {
        // the signals outlive this wait (the host's, the partition's): no listener may stay behind on them
        const end = (woken: boolean) => {
          clearTimeout(timer);
          stopping.signal.removeEventListener("abort", give);
          req.signal?.removeEventListener("abort", give);
          resolve(woken);
        };
        const give = () => end(false);
        const timer = suspended === undefined ? setTimeout(() => end(true), 1_000) : undefined;
        e.waiting.push(() => end(true));
        stopping.signal.addEventListener("abort", give, { once: true });
        req.signal?.addEventListener("abort", give, { once: true });
      });
      if (!woke) return false;
    }
  }

  /** Fails a message at once, for good (its agent cannot run here). */
  async function failNow(req: SessionRequest, turn: Envelope, err: unknown): Promise<TurnOutcome> {
    const failure = { ...toFailure(turn.id, err), transient: false };
    const outcome: FailedTurn = { kind: "failed", failure, attempts: req.deliveries, firstError: failure.message, turn };
    await req.onFailed(outcome);
    return outcome;
  }

  /** Counts a request in (not passivated meanwhile), keeps its message alive, and counts it out. */
  async function track<T>(e: Entity, req: SessionRequest, run: () => Promise<T>): Promise<T> {
    e.queued++;
    const keepAlive = setInterval(req.keepAlive, o.keepAliveMs);
    try {
      return await run();
    } finally {
      clearInterval(keepAlive);
      e.queued--;
      e.lastUsed = Date.now();
    }
  }

  const host: SessionHost = {
    deliver(req) {
      let e: Entity;
      try {
        e = entity(req.agent, req.session);
      } catch (err) {
        return failNow(req, req.envelope, err);
      }
      const id = req.envelope.id;
      const called = performance.now();
      const decide = (s: AnyMachineSnapshot, attempt: number): Decision => {
        if (contextOf(s).lastTurnId === id) return { kind: "answered" }; // a redelivery of an answered turn
        const type = s.hasTag(SUSPENDED_TAG) ? "inbound.interrupt" : "inbound.received";
        return { kind: "send", event: { type, envelope: req.envelope, attempt }, turn: req.envelope, resumes: false };
      };
      // strictly in order per session: each message starts when the previous one has ended
      const result = (e.turns = e.turns.catch(() => undefined).then(() =>
        track(e, req, async (): Promise<TurnOutcome> => {
          if (!req.agent.interrupt && !(await untilResumed(e, req))) return { kind: "released" };
          const outcome = await settle(e, req, decide, () => req.envelope, called);
          if (outcome.kind === "failed") await req.onFailed(outcome);
          return outcome;
        }),
      )) as Promise<TurnOutcome>;
      return result;
    },
    deliverMail(req) {
      let e: Entity;
      try {
        e = entity(req.agent, req.session);
      } catch (err) {
        return Promise.resolve({ kind: "dropped", why: `cannot run the session: ${(err as Error).message}` });
      }
      const event = mailEvent(req.mail);
      let resumed: Envelope | undefined;
      const decide = (s: AnyMachineSnapshot): Decision => {
        const cur = contextOf(s).current;
        if (!cur || !s.can(event)) return { kind: "stale", why: `no turn waits for this ${req.mail.type}` };
        resumed = cur.envelope;
        return { kind: "send", event, turn: cur.envelope, resumes: true };
      };
      const called = performance.now();
      return track(e, req, async () => {
        const outcome = await settle(e, req, decide, () => resumed, called);
        if (outcome.kind === "failed") await req.onFailed(outcome);
        return outcome;
      });
    },
    get active() {
      let n = 0;
      for (const e of entities.values()) if (e.actor) n++;
      return n;
    },
    passivateIdle(olderThanMs = o.idleMs) {
      const cutoff = Date.now() - olderThanMs;
      let n = 0;
      for (const [key, e] of entities) {
        if (e.queued === 0 && e.lastUsed <= cutoff) {
          // the snapshot is already in KV (written after every turn): passivating only frees memory
          drop(e);
          entities.delete(key);
          emit({ type: "session.passivated", key });
          n++;
        }
      }
      return n;
    },
    async stop() {
      clearInterval(sweeper);
      stopping.abort();
      await Promise.all([...entities.values()].flatMap((e) => [e.tail, e.turns]));
      for (const e of entities.values()) drop(e);
      entities.clear();
    },
  };
  return host;
}
