/**
 * The turn runner alone: a tiny agent kind (defined through the same
 * contract as the real ones), a session store kept in memory with KV's
 * revision rule, and the bus' condition given as data — no NATS. What is
 * checked is the settle policy: persist, retry with backoff, hold through an
 * outage without counting, give up, give back.
 */
import { describe, expect, it } from "vitest";
import { assign, setup } from "xstate";
import {
  AgentSpecSchema,
  defineAgentKind,
  SnapshotConflictError,
  toFailure,
  type InboundReceived,
  type SessionHostEvent,
  type TurnContext,
  type TurnFailure,
  type TurnInput,
} from "../../src/actors/index.js";
import { createLiveSession } from "../../src/actors/live-session.js";
import { createSessionQueue } from "../../src/actors/session-queue.js";
import type { SessionStore } from "../../src/actors/session-store.js";
import { createTurnRunner, type HostedSession, type TurnAttempts, type TurnRunnerOptions } from "../../src/actors/turn-runner.js";
import type { AgentDeps } from "../../src/actors/agent-deps.js";
import type { Envelope } from "../../src/bus/index.js";

interface ProbeContext extends TurnContext {
  current?: { envelope: Envelope };
  answered: number;
}
type ProbeEvent = InboundReceived | { type: "work.done" } | { type: "work.failed"; failure: TurnFailure };

/** Answers a message with one effect, `work`, whose outcomes the test scripts. */
const probeMachine = setup({ types: { context: {} as ProbeContext, events: {} as ProbeEvent, input: {} as TurnInput } }).createMachine({
  id: "probe",
  context: { answered: 0 },
  initial: "idle",
  states: {
    idle: {
      on: { "inbound.received": { target: "working", actions: assign({ current: ({ event }) => ({ envelope: event.envelope }), failure: undefined }) } },
    },
    working: {
      meta: { effect: "work" },
      on: {
        "work.done": {
          target: "idle",
          actions: assign(({ context }) => ({ lastTurnId: context.current!.envelope.id, answered: context.answered + 1, current: undefined })),
        },
        "work.failed": { target: "idle", actions: assign(({ event }) => ({ failure: event.failure, current: undefined })) },
      },
    },
  },
});

/** The work's outcomes, in order: `ok`, or a failure (transient or not). */
type Outcome = "ok" | { code: string; transient: boolean };

function probeKind(outcomes: Outcome[]) {
  return defineAgentKind({
    name: "probe",
    description: "test kind",
    machine: probeMachine,
    effects: () => ({
      work: async (c): Promise<ProbeEvent> => {
        const next = outcomes.shift() ?? "ok";
        return next === "ok"
          ? { type: "work.done" }
          : { type: "work.failed", failure: toFailure(c.current!.envelope.id, Object.assign(new Error(`failed: ${next.code}`), next)) };
      },
    }),
  });
}

/** KV's rule in memory: a write names the revision it read, or it conflicts. */
function memoryStore(): SessionStore & { saved: unknown[]; conflictOnce(): void } {
  let stored: { snapshot: unknown; revision: number } = { snapshot: undefined, revision: 0 };
  let conflict = false;
  const saved: unknown[] = [];
  return {
    saved,
    conflictOnce: () => (conflict = true),
    load: async () => ({ snapshot: stored.snapshot === undefined ? undefined : JSON.parse(JSON.stringify(stored.snapshot)), revision: stored.revision }),
    async save(key, snapshot, revision) {
      if (conflict || revision !== stored.revision) {
        conflict = false;
        stored = { ...stored, revision: stored.revision + 1 }; // another owner wrote meanwhile
        throw new SnapshotConflictError(key);
      }
      saved.push(snapshot);
      stored = { snapshot, revision: revision + 1 };
      return stored.revision;
    },
  };
}

const agent = AgentSpecSchema.parse({ id: "probe" });
/** the node's capabilities: the probe's effects use none of them */
const deps = {} as AgentDeps;
const message = (id: string): Envelope => ({
  id,
  ts: 1,
  channel: "t",
  account: "a",
  chat: "c",
  sender: { id: "u" },
  kind: "message",
  text: id,
  media: [],
  metadata: {},
  trace: {},
});

function setupRunner(outcomes: Outcome[], o: Partial<TurnRunnerOptions> = {}) {
  const store = memoryStore();
  const events: SessionHostEvent[] = [];
  const kind = probeKind(outcomes);
  const session: HostedSession = {
    key: "probe.s",
    live: createLiveSession({ key: "probe.s", kind, store }),
    driver: kind.driver(deps),
    queue: createSessionQueue(),
  };
  const runner = createTurnRunner({
    maxDeliver: 3,
    backoff: { baseMs: 5, factor: 2, maxMs: 20 },
    turnTimeoutMs: 1_000,
    stopping: new AbortController().signal,
    emit: (e) => events.push(e),
    log: (key, turn) => ({ msg_id: turn?.id ?? "?", actor: `session/${key}` }),
    ...o,
  });
  const attempts = (id: string, deliveries = 1, signal?: AbortSignal): TurnAttempts => ({
    request: { agent, session: "s", deliveries, signal, keepAlive: () => {}, onFailed: async () => {} },
    arrival: { kind: "message", envelope: message(id) },
    queuedSince: performance.now(),
  });
  return { store, events, session, runner, attempts };
}

describe("turn runner", () => {
  it("answers, persists the snapshot and tells where the time went", async () => {
    const { store, events, session, runner, attempts } = setupRunner(["ok"]);
    const outcome = await runner.settle(session, attempts("m1"));
    expect(outcome).toMatchObject({ kind: "answered", timing: { tries: 1 } });
    expect(Object.keys((outcome as { timing: { effects: object } }).timing.effects)).toEqual(["work"]);
    expect(store.saved).toHaveLength(1);
    expect(events).toMatchObject([{ type: "turn.answered", key: "probe.s", msg_id: "m1", actor: "session/probe.s" }]);
    // a redelivery of the answered message is absorbed, nothing written again
    expect(await runner.settle(session, attempts("m1", 2))).toMatchObject({ kind: "answered", timing: { tries: 0 } });
    expect(store.saved).toHaveLength(1);
  });

  it("tells what a session's first message cost besides its turn: the load that missed, the actor's creation, the write that created it", async () => {
    const { session, runner, attempts } = setupRunner(["ok", "ok", "ok"]);
    const first = (await runner.settle(session, attempts("m1"))) as { timing: Record<string, unknown> };
    expect(first.timing).toMatchObject({ spawn: { restored: false, loadMs: expect.any(Number), createMs: expect.any(Number) }, firstSnapshot: true });
    // known now: in memory, its key written
    const second = (await runner.settle(session, attempts("m2"))) as { timing: Record<string, unknown> };
    expect(second.timing.spawn).toBeUndefined();
    expect(second.timing.firstSnapshot).toBeUndefined();
    // dropped from memory (passivated): restored from its snapshot, its key not created again
    session.live.drop();
    const third = (await runner.settle(session, attempts("m3"))) as { timing: Record<string, unknown> };
    expect(third.timing).toMatchObject({ spawn: { restored: true } });
    expect(third.timing.firstSnapshot).toBeUndefined();
  });

  it("retries a transient failure with backoff, counting from the message's deliveries", async () => {
    const { events, session, runner, attempts } = setupRunner([{ code: "flaky", transient: true }, "ok"]);
    expect(await runner.settle(session, attempts("m1", 2))).toMatchObject({ kind: "answered", timing: { tries: 2 } });
    expect(events).toMatchObject([{ type: "turn.retrying", attempt: 2, error: "failed: flaky" }, { type: "turn.answered" }]);
    // the second attempt's backoff: 5 ms × 2, jittered down to half at most
    const { delayMs } = events[0] as { delayMs: number };
    expect(delayMs).toBeGreaterThanOrEqual(5);
    expect(delayMs).toBeLessThanOrEqual(10);
  });

  it("gives up on a failure that is not transient at once, and on a transient one after maxDeliver attempts", async () => {
    const permanent = setupRunner([{ code: "bad", transient: false }]);
    expect(await permanent.runner.settle(permanent.session, permanent.attempts("m1"))).toMatchObject({
      kind: "failed",
      attempts: 1,
      firstError: "failed: bad",
      failure: { code: "bad" },
      turn: { id: "m1" },
    });
    const flaky = setupRunner([1, 2, 3, 4].map(() => ({ code: "flaky", transient: true })));
    expect(await flaky.runner.settle(flaky.session, flaky.attempts("m1"))).toMatchObject({
      kind: "failed",
      attempts: 3,
      failure: { code: "flaky", transient: true },
    });
    expect(flaky.events.filter((e) => e.type === "turn.retrying")).toHaveLength(2);
    expect(flaky.store.saved).toEqual([]);
  });

  it("holds a try that failed while the bus is down, and tries it again as the same attempt once it is back", async () => {
    let down = true;
    const busHealth = {
      problem: () => (down ? { code: "nats_disconnected" as const, reason: "nats: disconnected", since: 0 } : undefined),
      whenAvailable: async () => {
        down = false;
      },
    };
    // two attempts allowed: the held try is not one of them
    const { events, session, runner, attempts } = setupRunner([{ code: "unavailable", transient: true }, { code: "flaky", transient: true }, "ok"], {
      busHealth,
      maxDeliver: 2,
    });
    expect(await runner.settle(session, attempts("m1"))).toMatchObject({ kind: "answered", timing: { tries: 3 } });
    expect(events).toMatchObject([
      { type: "turn.held", attempt: 1, code: "nats_disconnected" },
      { type: "turn.retrying", attempt: 1 },
      { type: "turn.answered" },
    ]);
  });

  it("reloads from the store when another owner wrote the session first, and loses nothing", async () => {
    const { store, events, session, runner, attempts } = setupRunner(["ok", "ok"]);
    store.conflictOnce();
    expect(await runner.settle(session, attempts("m1"))).toMatchObject({ kind: "answered", timing: { tries: 2 } });
    expect(events[0]).toMatchObject({ type: "turn.retrying", error: "session probe.s was written by another owner" });
    expect(store.saved).toHaveLength(1);
  });

  it("gives a request back when the host stops or its message is handed over", async () => {
    const stopping = new AbortController();
    stopping.abort();
    const stopped = setupRunner(["ok"], { stopping: stopping.signal });
    expect(await stopped.runner.settle(stopped.session, stopped.attempts("m1"))).toEqual({ kind: "released" });
    const handedOver = setupRunner(["ok"]);
    expect(await handedOver.runner.settle(handedOver.session, handedOver.attempts("m1", 1, AbortSignal.abort()))).toEqual({ kind: "released" });
    expect(handedOver.store.saved).toEqual([]);
  });
});
