/**
 * The skill workers of a node: for every registered skill it can run (its
 * runtime's driver is here), a pull consumer on `CLAW_SKILLS` shared with
 * every other node that can (a worker pool). Each invocation is an actor
 * (invocation.machine.ts) driven to its end; its message is acked once the
 * caller has its answer, and given back when the answer could not be
 * published. New skills get their pool as they are registered. Invocations
 * named on `claw.ctl.skill-cancel` are stopped. A stopping node drains: it
 * takes no new invocation, lets those in flight finish for a while, then
 * gives the idempotent ones back to the pool and answers the others
 * `cancelled`.
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { AnyActorRef } from "xstate";
import { createActor } from "xstate";
import {
  backoffDelay,
  deadLetterOf,
  defaultLanePolicy,
  delay,
  decode,
  publishDeadLetter,
  SKILL_CANCEL_SUBJECT,
  SkillInvocationSchema,
  skillConsumerSpec,
  startConsumerLane,
  STREAMS,
  parseSessionSubject,
  withRetry,
  type BackoffPolicy,
  type ConsumerLane,
  type ConsumerOptions,
  type LanePolicy,
} from "../bus/index.js";
import { driveActor } from "../effect-driver.js";
import { driverFor } from "./sandbox/sandbox.js";
import { invocationEffects, type InvocationDeps } from "./invocation.effects.js";
import { invocationMachine, type InvocationContext } from "./invocation.machine.js";
import type { SkillRegistry } from "./skill-registry.js";

/** Facts the workers report, for logs and metrics. */
export type SkillWorkerEvent =
  /** `agent`: the stored id of the agent whose turn called it (none for a call from outside a session) */
  | { type: "skill.completed"; skill: string; ok: boolean; code?: string; durationMs: number; invocation: string; agent?: string }
  | { type: "skill.invalid"; reason: string; subject: string }
  | { type: "skill.pool"; skill: string }
  | { type: "skill.pool.failed"; skill: string; error: string; retryInMs: number }
  | { type: "skill.received"; skill: string; invocation: string; deliveries: number }
  | { type: "skill.unpublished"; invocation: string; error: string }
  /** the node stopped before the run ended: an idempotent one goes back to the work queue, another is answered `cancelled` */
  | { type: "skill.stopped"; skill: string; invocation: string; outcome: "handed_back" | "cancelled" };

/** Options of {@link startSkillWorkers}. */
export interface SkillWorkerOptions extends Omit<InvocationDeps, "cancelled" | "registry"> {
  registry: Pick<SkillRegistry, "list" | "resolve" | "materialize" | "onChange">;
  consumer: ConsumerOptions;
  backoff: BackoffPolicy;
  /** XState inspection of each invocation (live events) */
  inspection?: { register(kind: "skill", id: string, actor: AnyActorRef): void; forget(kind: "skill", id: string): void };
  onEvent?: (e: SkillWorkerEvent) => void;
}

/** The running workers. */
export interface SkillWorkers {
  /** skill ids this node pulls invocations of */
  pools(): string[];
  /**
   * Stops taking invocations and lets those in flight finish until
   * `deadline` (ms since epoch); then cancels what still runs: an idempotent
   * invocation goes back to the work queue (nak) for another node, any other
   * is answered `cancelled`. One answer either way. Resolves when every
   * invocation has ended.
   */
  drain(deadline: number): Promise<void>;
  /** {@link SkillWorkers.drain} at once, unless a drain is under way (then waits for it) */
  stop(): Promise<void>;
}

/** An invocation this node runs. */
interface Running {
  skill: string;
  /** the run's own cancellation (its caller's `claw.ctl.skill-cancel`, or a stop) */
  cancel: AbortController;
  /** the worker gives the message back: the actor is left where it is and nothing is answered */
  handBack: AbortController;
  actor: AnyActorRef;
}

/** States in which an invocation can still be handed back unanswered: its result is not being published yet. */
const BEFORE_ANSWER = ["validating", "running", "retrying"];

/**
 * A skill pool's lane: a consumer shared with every node that runs the skill,
 * invocations side by side up to what JetStream lets be unacked (so nothing
 * waits in the lane for room), a failure nak'ed with backoff.
 */
function poolPolicy(o: SkillWorkerOptions): LanePolicy {
  return { ...defaultLanePolicy(), pullBatch: 16, ordering: { kind: "parallel", maxInFlight: o.consumer.maxAckPending } };
}

/** What running one invocation needs of the workers. */
interface InvocationRun {
  o: SkillWorkerOptions;
  effects: ReturnType<typeof invocationEffects>;
  running: Map<string, Running>;
  emit: (e: SkillWorkerEvent) => void;
  /** the workers are stopping */
  stopping: () => boolean;
  /** the drain's deadline has passed: an invocation that starts now is ended at once */
  overdue: () => boolean;
  /** ends a run at the drain's deadline (see {@link SkillWorkers.drain}) */
  cancel: (r: Running) => void;
}

/** Parses an invocation's message, or dead-letters it (nobody can be answered). */
async function parseInvocation(w: InvocationRun, m: JsMsg) {
  try {
    return SkillInvocationSchema.parse(decode(m.data));
  } catch (e) {
    const reason = `invalid skill invocation: ${(e as Error).message}`;
    w.emit({ type: "skill.invalid", reason, subject: m.subject });
    await publishDeadLetter(w.o.bus.publisher, deadLetterOf(m, { stage: "skill", code: "invalid_invocation", reason, node: w.o.nodeId }));
    m.ack();
    return undefined;
  }
}

/** Runs one invocation's actor to its end and settles its message: acked once answered, given back when it could not be. */
async function runInvocation(w: InvocationRun, m: JsMsg): Promise<void> {
  const invocation = await parseInvocation(w, m);
  if (!invocation) return;
  const { o, emit } = w;
  emit({ type: "skill.received", skill: invocation.skill, invocation: invocation.id, deliveries: m.info.deliveryCount });
  const keepAlive = setInterval(() => m.working(), Math.max(1_000, Math.floor(o.consumer.ackWaitMs / 3)));
  const actor = createActor(invocationMachine, { input: { invocation, deliveries: m.info.deliveryCount } });
  const handBack = new AbortController();
  const run: Running = { skill: invocation.skill, cancel: new AbortController(), handBack, actor };
  w.running.set(invocation.id, run);
  o.inspection?.register("skill", invocation.id, actor);
  actor.start();
  if (w.overdue()) w.cancel(run);
  try {
    try {
      await driveActor(actor, w.effects, handBack.signal);
    } catch (e) {
      if (!handBack.signal.aborted) throw e;
      // the node stops: another node runs it from the start (its run here was cancelled with the hand-back)
      m.nak();
      emit({ type: "skill.stopped", skill: invocation.skill, invocation: invocation.id, outcome: "handed_back" });
      return;
    }
    const s = actor.getSnapshot();
    const c = s.context as InvocationContext;
    if (s.matches("unpublished")) {
      emit({ type: "skill.unpublished", invocation: invocation.id, error: "the result could not be published" });
      if (!w.stopping()) m.nak(backoffDelay(o.backoff, m.info.deliveryCount - 1));
      return;
    }
    m.ack();
    if (c.result?.ok === false && c.result.error.code === "cancelled" && w.stopping()) {
      emit({ type: "skill.stopped", skill: invocation.skill, invocation: invocation.id, outcome: "cancelled" });
    }
    emit({
      type: "skill.completed",
      skill: c.skill ?? invocation.skill,
      ok: c.result?.ok ?? false,
      code: c.result?.ok ? undefined : c.result?.error.code,
      durationMs: c.durationMs,
      invocation: invocation.id,
      agent: parseSessionSubject(invocation.replyTo)?.agent,
    });
  } finally {
    clearInterval(keepAlive);
    w.running.delete(invocation.id);
    o.inspection?.forget("skill", invocation.id);
    actor.stop();
  }
}

/** Joins the worker pool of skill `id`, trying again with backoff while NATS says no; undefined when stopped first. */
async function joinPool(w: InvocationRun, id: string, stopping: AbortSignal): Promise<ConsumerLane | undefined> {
  const { o, emit } = w;
  const join = () =>
    startConsumerLane({
      bus: o.bus,
      stream: STREAMS.skills,
      consumer: skillConsumerSpec(id, o.consumer),
      policy: poolPolicy(o),
      backoff: o.backoff,
      handle: (m) => runInvocation(w, m),
      onEvent: (e) => (e.type === "lane.failed" ? emit({ type: "skill.pool.failed", skill: id, error: e.error, retryInMs: e.retryInMs ?? 0 }) : undefined),
    });
  try {
    const lane = await withRetry(join, {
      totalMs: Infinity,
      policy: o.backoff,
      signal: stopping,
      transient: () => !stopping.aborted,
      onRetry: (e, _attempt, retryInMs) => emit({ type: "skill.pool.failed", skill: id, error: (e as Error).message, retryInMs }),
    });
    emit({ type: "skill.pool", skill: id });
    return lane;
  } catch {
    return undefined;
  }
}

/**
 * Stops the pools' lanes, lets the invocations in flight run until
 * `deadline`, then ends what still runs (`cancelAll`) and waits for it.
 */
async function drainPools(pools: Iterable<Promise<ConsumerLane | undefined>>, deadline: number, cancelAll: () => void): Promise<void> {
  // no new invocations: a pool being joined gives up, a pool's lane stops pulling
  const lanes = (await Promise.all(pools)).filter((l): l is ConsumerLane => l !== undefined);
  await Promise.all(lanes.map((l) => l.stopPulling()));
  const settled = () => Promise.all(lanes.map((l) => l.drained())).then(() => undefined);
  const left = deadline - Date.now();
  if (lanes.some((l) => l.inFlight() > 0) && left > 0) await Promise.race([settled(), delay(left)]);
  cancelAll();
  await settled();
}

/** Starts the workers. */
export async function startSkillWorkers(o: SkillWorkerOptions): Promise<SkillWorkers> {
  const emit = o.onEvent ?? (() => {});
  const running = new Map<string, Running>();
  const pools = new Map<string, Promise<ConsumerLane | undefined>>();
  let stopped = false;
  let overdue = false;
  let draining: Promise<void> | undefined;
  /** ends a pool's wait before its next try to join */
  const stopping = new AbortController();
  const effects = invocationEffects({ ...o, cancelled: (id) => running.get(id)?.cancel.signal ?? new AbortController().signal });

  /** Ends a run at the drain's deadline: handed back when idempotent and not yet answering, else cancelled (answered). */
  function cancel(r: Running): void {
    const idempotent = o.registry.resolve(r.skill, "*")?.descriptor.idempotent === true;
    if (idempotent && BEFORE_ANSWER.includes(String(r.actor.getSnapshot().value))) r.handBack.abort();
    r.cancel.abort();
  }
  const w: InvocationRun = { o, effects, running, emit, stopping: () => stopped, overdue: () => overdue, cancel };

  /** Joins the worker pool of skill `id` (once). */
  function pool(id: string): void {
    if (!pools.has(id) && !stopped) pools.set(id, joinPool(w, id, stopping.signal));
  }

  /** A node pulls a skill's invocations only where its runtime can run. */
  const runsHere = (runtime: string) => {
    const driver = driverFor(o.drivers, runtime);
    return !driver || !("unavailable" in driver);
  };
  for (const s of o.registry.list()) if (runsHere(s.descriptor.runtime)) pool(s.descriptor.id);
  const unwatch = o.registry.onChange((s) => {
    if (runsHere(s.descriptor.runtime)) pool(s.descriptor.id);
  });
  const cancels = o.bus.nc.subscribe(SKILL_CANCEL_SUBJECT, {
    callback: (_e, m) => {
      try {
        for (const id of m.json<{ ids?: string[] }>().ids ?? []) running.get(id)?.cancel.abort();
      } catch {
        /* not for us */
      }
    },
  });

  async function drain(deadline: number): Promise<void> {
    stopped = true;
    stopping.abort();
    unwatch();
    cancels.unsubscribe();
    await drainPools(pools.values(), deadline, () => {
      overdue = true;
      for (const r of running.values()) cancel(r);
    });
  }

  return {
    pools: () => [...pools.keys()].sort(),
    drain: (deadline) => (draining ??= drain(deadline)),
    stop: () => (draining ??= drain(Date.now())),
  };
}
