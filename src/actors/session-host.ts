/**
 * Runs session actors on a node: spawns them on demand (restored from KV),
 * feeds each one its messages strictly in order, persists its snapshot after
 * every turn, retries transient failures in place with backoff (so a later
 * message of the same session cannot overtake), and passivates idle ones.
 */
import { createActor, type Actor } from "xstate";
import type { JetStreamClient } from "@nats-io/jetstream";
import {
  backoffDelay,
  hopTraceparent,
  traceIdOf,
  delay,
  encode,
  H,
  outboundSubject,
  publishDurable,
  sessionKey,
  transcriptSubject,
  type BackoffPolicy,
  type BusHealth,
  type Envelope,
} from "../bus/index.js";
import type { Model } from "../llm/index.js";
import type { AgentSpec } from "./agents.js";
import { TurnTimeoutError } from "./errors.js";
import { sessionMachine, toFailure, type DeliverInput, type TurnFailure } from "./session.machine.js";
import { driveTurn, type TurnEffects } from "./session-turn.js";
import type { SessionStore, TranscriptEntry } from "./session-store.js";
import type { Tracing } from "../observability/tracing.js";

/** A message for a session. */
export interface TurnRequest {
  agent: AgentSpec;
  session: string;
  envelope: Envelope;
  /** the server's delivery count of the carrying message (1 on first delivery) */
  deliveries: number;
  /** what the lines logged about it carry (default: its session's fields) */
  log?: MessageLogFields;
  /** extends the carrying message's ack deadline (JetStream `working()`) */
  keepAlive: () => void;
  /**
   * Dead-letters a failed turn. Runs inside the session's queue, so whatever
   * it publishes (an error notice to the sender) comes before the session's next reply.
   */
  onFailed: (outcome: Extract<TurnOutcome, { kind: "failed" }>) => Promise<void>;
}

/** How a turn ended. */
export type TurnOutcome =
  /** reply published and snapshot persisted (or it had been already) */
  | { kind: "answered" }
  /** permanent failure, or transient ones until max deliveries: dead-letter it */
  | { kind: "failed"; failure: TurnFailure; attempts: number; firstError: string }
  /** the host is stopping: give the message back (nak) for the next owner */
  | { kind: "released" };

/** Lifecycle facts, for logs and metrics. */
export type SessionHostEvent =
  | { type: "session.spawned"; key: string; restored: boolean }
  | { type: "session.passivated"; key: string }
  | ({ type: "turn.retrying"; key: string; attempt: number; delayMs: number; error: string } & MessageLogFields)
  /** a try failed while the bus was unavailable: held until it is back, not counted as an attempt */
  | ({ type: "turn.held"; key: string; attempt: number; code: string; reason: string; error: string } & MessageLogFields)
  | ({ type: "turn.answered"; key: string; ms: number } & MessageLogFields);

/** What every log line about a message carries. */
export interface MessageLogFields {
  msg_id: string;
  trace_id?: string;
  partition?: number;
  /** `session/<agent>.<session>`, `ingress/p<n>` */
  actor: string;
}

/** The log fields of a message handled by a session actor. */
export function sessionLogFields(key: string, e: Envelope, partition?: number): MessageLogFields {
  return { msg_id: e.id, trace_id: e.trace.traceparent ? traceIdOf(e.trace.traceparent) : undefined, partition, actor: `session/${key}` };
}

/** Options of {@link createSessionHost}. */
export interface SessionHostOptions {
  js: JetStreamClient;
  store: SessionStore;
  models: ReadonlyMap<string, Model>;
  nodeId: string;
  maxDeliver: number;
  backoff: BackoffPolicy;
  /** passivate sessions idle this long */
  idleMs: number;
  turnTimeoutMs: number;
  /** how often to extend the ack deadline of a message in progress */
  keepAliveMs: number;
  /** append every turn to `CLAW_TRANSCRIPTS` (default true) */
  transcripts?: boolean;
  /**
   * Fault injection for crash tests: called at `session.after-reply` (reply
   * published, snapshot not yet written) and `session.after-save` (snapshot
   * written, message not yet acked).
   */
  failpoint?: (name: "session.after-reply" | "session.after-save") => void;
  /** hop spans (the reply publish) */
  tracing?: Tracing;
  /**
   * The bus' condition: a try that fails while NATS is unavailable (down,
   * stalled, its store full) waits until it is back and is tried again
   * without counting as an attempt, so an outage dead-letters nothing.
   */
  busHealth?: Pick<BusHealth, "problem" | "whenAvailable">;
  /** XState inspection of each session actor (live events); `forget` when it stops */
  inspection?: { register(kind: "session", id: string, actor: SessionActor): void; forget(kind: "session", id: string): void };
  onEvent?: (e: SessionHostEvent) => void;
}

/** The session runner of one node. */
export interface SessionHost {
  deliver(req: TurnRequest): Promise<TurnOutcome>;
  /** live (in-memory) sessions */
  readonly active: number;
  /** passivate every idle session now; returns how many */
  passivateIdle(olderThanMs?: number): number;
  /** wait for in-flight turns, then stop every actor */
  stop(): Promise<void>;
}

type SessionActor = Actor<typeof sessionMachine>;

interface Entity {
  key: string;
  actor?: SessionActor;
  revision: number;
  tail: Promise<unknown>;
  queued: number;
  lastUsed: number;
}

/** The span of a message's session turn: a child of its ingress span. */
export function turnTraceparent(inbound: Envelope): string | undefined {
  return inbound.trace.traceparent ? hopTraceparent(inbound.trace.traceparent, inbound.id, "session") : undefined;
}

function replyEnvelope(input: DeliverInput): Envelope {
  const m = input.inbound;
  return {
    id: `${m.id}:reply:0`,
    ts: Date.now(),
    channel: m.channel,
    account: m.account,
    chat: m.chat,
    sender: { id: input.agent },
    kind: "reply",
    text: input.text,
    media: [],
    replyTo: m.id,
    metadata: { agent: input.agent, session: input.session },
    // the reply carries its publish span, a child of the turn's span
    trace: m.trace.traceparent ? { traceparent: hopTraceparent(turnTraceparent(m), m.id, "reply") } : {},
  };
}

/** Creates a session host. */
export function createSessionHost(o: SessionHostOptions): SessionHost {
  const entities = new Map<string, Entity>();
  const stopping = new AbortController();
  const sweeper = setInterval(() => host.passivateIdle(), Math.max(250, Math.floor(o.idleMs / 4)));
  sweeper.unref();
  const emit = o.onEvent ?? (() => {});

  const effects: TurnEffects = {
    async think(input, signal) {
      const model = o.models.get(input.agent);
      if (!model) throw Object.assign(new Error(`agent ${input.agent} has no model`), { code: "no_model", transient: false });
      return model.complete({ ...input, signal });
    },
    async deliver(input) {
      const reply = replyEnvelope(input);
      const subject = outboundSubject(reply);
      const headers: Record<string, string> = { [H.node]: o.nodeId };
      if (reply.trace.traceparent) headers[H.traceparent] = reply.trace.traceparent;
      const startMs = o.tracing?.enabled ? Date.now() : 0;
      // msg ids derive from the inbound id: a redelivered turn cannot publish a second reply or transcript entry
      const entry: TranscriptEntry = { agent: input.agent, session: input.session, user: input.inbound, assistant: reply };
      const [, transcript] = await Promise.all([
        publishDurable(o.js, { subject, data: encode(reply), msgId: reply.id, headers }),
        (o.transcripts ?? true)
          ? publishDurable(o.js, { subject: transcriptSubject(input.agent, input.session), data: encode(entry), msgId: `${input.inbound.id}:transcript`, headers })
          : undefined,
      ]);
      if (o.tracing?.enabled && reply.trace.traceparent) {
        o.tracing.record({
          name: "claw.out",
          kind: "producer",
          traceparent: reply.trace.traceparent,
          parent: turnTraceparent(input.inbound),
          startMs,
          endMs: Date.now(),
          attributes: { "messaging.system": "nats", "messaging.destination.name": subject, "messaging.message.id": reply.id, "claw.agent": input.agent },
        });
      }
      o.failpoint?.("session.after-reply");
      // a redelivered turn's duplicate publish is acked with the sequence of the first one
      return { id: reply.id, ts: reply.ts, transcriptSeq: transcript?.seq };
    },
  };

  async function load(e: Entity, agent: AgentSpec, session: string): Promise<SessionActor> {
    if (e.actor) return e.actor;
    const stored = await o.store.load(e.key);
    const input = { agent: agent.id, session, historyLimit: agent.historyLimit };
    const actor = createActor(sessionMachine, stored.snapshot ? { input, snapshot: stored.snapshot as never } : { input });
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

  /** One try of a turn. Resolves with a failure or undefined when answered and persisted. */
  async function tryTurn(e: Entity, req: TurnRequest, attempt: number): Promise<TurnFailure | undefined> {
    const id = req.envelope.id;
    const actor = await load(e, req.agent, req.session);
    if (actor.getSnapshot().context.lastTurnId === id) return undefined; // a redelivery of an answered turn
    actor.send({ type: "inbound.received", envelope: req.envelope, attempt });
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new TurnTimeoutError(o.turnTimeoutMs)), o.turnTimeoutMs);
    try {
      await driveTurn(actor, effects, deadline.signal);
    } catch (err) {
      drop(e); // left mid-turn: the next try starts from the persisted snapshot
      return toFailure(id, err);
    } finally {
      clearTimeout(timer);
    }
    const snap = actor.getSnapshot();
    if (snap.context.lastTurnId !== id) return snap.context.failure ?? toFailure(id, new Error("the turn ended without an answer"));
    try {
      e.revision = await o.store.save(e.key, actor.getPersistedSnapshot(), e.revision);
      o.failpoint?.("session.after-save");
    } catch (err) {
      // memory must never run ahead of KV: reload on the next try (a SnapshotConflictError
      // means another owner moved on; its state is the truth)
      drop(e);
      return toFailure(id, err);
    }
    return undefined;
  }

  async function runTurn(e: Entity, req: TurnRequest): Promise<TurnOutcome> {
    const started = Date.now();
    const keepAlive = setInterval(req.keepAlive, o.keepAliveMs);
    let firstError: string | undefined;
    try {
      for (let local = 0; ; local++) {
        if (stopping.signal.aborted) return { kind: "released" };
        const attempt = req.deliveries + local;
        let failure: TurnFailure | undefined;
        try {
          failure = await tryTurn(e, req, attempt);
        } catch (err) {
          drop(e);
          failure = toFailure(req.envelope.id, err);
        }
        if (!failure) {
          emit({ type: "turn.answered", key: e.key, ms: Date.now() - started, ...(req.log ?? sessionLogFields(e.key, req.envelope)) });
          return { kind: "answered" };
        }
        const down = failure.transient ? o.busHealth?.problem() : undefined;
        if (down) {
          emit({ type: "turn.held", key: e.key, attempt, code: down.code, reason: down.reason, error: failure.message, ...(req.log ?? sessionLogFields(e.key, req.envelope)) });
          await o.busHealth!.whenAvailable(stopping.signal);
          local--; // the same attempt again: the bus failed, not the turn
          continue;
        }
        firstError ??= failure.message;
        if (!failure.transient || attempt >= o.maxDeliver) return { kind: "failed", failure, attempts: attempt, firstError };
        const delayMs = backoffDelay(o.backoff, attempt - 1);
        emit({ type: "turn.retrying", key: e.key, attempt, delayMs, error: failure.message, ...(req.log ?? sessionLogFields(e.key, req.envelope)) });
        await delay(delayMs, stopping.signal);
      }
    } finally {
      clearInterval(keepAlive);
    }
  }

  const host: SessionHost = {
    deliver(req) {
      const key = sessionKey(req.agent.id, req.session);
      let e = entities.get(key);
      if (!e) {
        e = { key, revision: 0, tail: Promise.resolve(), queued: 0, lastUsed: Date.now() };
        entities.set(key, e);
      }
      const entity = e;
      entity.queued++;
      // strictly in order per session: each turn starts when the previous one has ended
      const result = entity.tail.then(async () => {
        const outcome = await runTurn(entity, req);
        if (outcome.kind === "failed") await req.onFailed(outcome);
        return outcome;
      });
      entity.tail = result.catch(() => undefined).finally(() => {
        entity.queued--;
        entity.lastUsed = Date.now();
      });
      return result;
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
      await Promise.all([...entities.values()].map((e) => e.tail));
      for (const e of entities.values()) drop(e);
      entities.clear();
    },
  };
  return host;
}
