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
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { AnyActorRef } from "xstate";
import { createActor } from "xstate";
import {
  backoffDelay,
  deadLetterOf,
  delay,
  decode,
  ensureConsumer,
  publishDeadLetter,
  SKILL_CANCEL_SUBJECT,
  SkillInvocationSchema,
  skillConsumerName,
  skillConsumerSpec,
  STREAMS,
  type BackoffPolicy,
  type ConsumerOptions,
} from "../bus/index.js";
import { driveActor } from "../effect-driver.js";
import { driverFor } from "./sandbox/sandbox.js";
import { invocationEffects, type InvocationDeps } from "./invocation.effects.js";
import { invocationMachine, type InvocationContext } from "./invocation.machine.js";
import type { SkillRegistry } from "./skill-registry.js";

/** Facts the workers report, for logs and metrics. */
export type SkillWorkerEvent =
  | { type: "skill.completed"; skill: string; ok: boolean; code?: string; durationMs: number; invocation: string }
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

/** Starts the workers. */
export async function startSkillWorkers(o: SkillWorkerOptions): Promise<SkillWorkers> {
  const emit = o.onEvent ?? (() => {});
  const running = new Map<string, Running>();
  const inFlight = new Set<Promise<void>>();
  const pools = new Map<string, Promise<ConsumerMessages | undefined>>();
  let stopped = false;
  let draining: Promise<void> | undefined;
  /** ends a pool's wait before its next try to join */
  const stopping = new AbortController();
  const effects = invocationEffects({
    ...o,
    cancelled: (id) => running.get(id)?.cancel.signal ?? new AbortController().signal,
  });

  async function handle(m: JsMsg): Promise<void> {
    let invocation;
    try {
      invocation = SkillInvocationSchema.parse(decode(m.data));
    } catch (e) {
      // nobody can be answered: keep the bytes and the reason
      const reason = `invalid skill invocation: ${(e as Error).message}`;
      emit({ type: "skill.invalid", reason, subject: m.subject });
      await publishDeadLetter(o.bus.publisher, deadLetterOf(m, { stage: "skill", code: "invalid_invocation", reason, node: o.nodeId }));
      m.ack();
      return;
    }
    emit({ type: "skill.received", skill: invocation.skill, invocation: invocation.id, deliveries: m.info.deliveryCount });
    const keepAlive = setInterval(() => m.working(), Math.max(1_000, Math.floor(o.consumer.ackWaitMs / 3)));
    const actor = createActor(invocationMachine, { input: { invocation, deliveries: m.info.deliveryCount } });
    const handBack = new AbortController();
    running.set(invocation.id, { skill: invocation.skill, cancel: new AbortController(), handBack, actor });
    o.inspection?.register("skill", invocation.id, actor);
    actor.start();
    try {
      try {
        await driveActor(actor, effects, handBack.signal);
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
        if (!stopped) m.nak(backoffDelay(o.backoff, m.info.deliveryCount - 1));
        return;
      }
      m.ack();
      if (c.result?.ok === false && c.result.error.code === "cancelled" && stopped) {
        emit({ type: "skill.stopped", skill: invocation.skill, invocation: invocation.id, outcome: "cancelled" });
      }
      emit({ type: "skill.completed", skill: c.skill ?? invocation.skill, ok: c.result?.ok ?? false, code: c.result?.ok ? undefined : c.result?.error.code, durationMs: c.durationMs, invocation: invocation.id });
    } finally {
      clearInterval(keepAlive);
      running.delete(invocation.id);
      o.inspection?.forget("skill", invocation.id);
      actor.stop();
    }
  }

  /** Joins the worker pool of skill `id` (once), trying again with backoff while NATS says no. */
  function pool(id: string): void {
    if (pools.has(id) || stopped) return;
    pools.set(
      id,
      (async () => {
        for (let attempt = 0; !stopped; attempt++) {
          try {
            await ensureConsumer(o.bus.jsm, STREAMS.skills, skillConsumerSpec(id, o.consumer));
            const consumer = await o.bus.js.consumers.get(STREAMS.skills, skillConsumerName(id));
            const messages = await consumer.consume({
              max_messages: 16,
              expires: 5_000,
              idle_heartbeat: 1_000,
              // what arrives while the pools close is handled as any other: run, or cancelled at the drain's end
              callback: (m) => {
                const t = handle(m).catch(() => {
                  if (!stopped) m.nak(backoffDelay(o.backoff, m.info.deliveryCount - 1));
                });
                inFlight.add(t);
                void t.finally(() => inFlight.delete(t));
              },
            });
            emit({ type: "skill.pool", skill: id });
            return messages;
          } catch (e) {
            const retryInMs = backoffDelay(o.backoff, attempt);
            emit({ type: "skill.pool.failed", skill: id, error: (e as Error).message, retryInMs });
            await delay(retryInMs, stopping.signal);
          }
        }
        return undefined;
      })(),
    );
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
  /** Ends what still runs at the drain's deadline: handed back when idempotent and not yet answering, else cancelled (answered). */
  function cancelRunning(): void {
    for (const r of running.values()) {
      const idempotent = o.registry.resolve(r.skill, "*")?.descriptor.idempotent === true;
      const state = String(r.actor.getSnapshot().value);
      if (idempotent && BEFORE_ANSWER.includes(state)) r.handBack.abort();
      r.cancel.abort();
    }
  }

  async function drain(deadline: number): Promise<void> {
    stopped = true;
    stopping.abort();
    unwatch();
    cancels.unsubscribe();
    // no new invocations: a pool being joined ends with the loop, a consumer stops pulling
    await Promise.all([...pools.values()].map(async (p) => (await p)?.close().catch(() => undefined)));
    const settled = () => Promise.all([...inFlight]).then(() => undefined);
    const left = deadline - Date.now();
    if (inFlight.size > 0 && left > 0) await Promise.race([settled(), delay(left)]);
    if (inFlight.size > 0) cancelRunning();
    while (inFlight.size > 0) await settled();
  }

  return {
    pools: () => [...pools.keys()].sort(),
    drain: (deadline) => (draining ??= drain(deadline)),
    stop: () => (draining ??= drain(Date.now())),
  };
}
