/**
 * One JetStream consumer lane: pulls a durable consumer and hands each message
 * to its user's handler, as the lane's policy says — how it pulls, how many
 * handlers run at once and in which order, whether the consumer is the lane's
 * alone (taken over at the start and at every reset, so that what a previous
 * holder left unacked comes back at once and in order, and a delivery lost in
 * transit is noticed as a gap), what a handler's failure does to its message,
 * and what happens when pulling fails. Every JetStream consumer loop of Claw
 * (partition mailboxes, the fallback router, skill pools, channel replies,
 * webhooks, web chat sessions) is one of these with its own policy.
 *
 * The handler settles its message (ack, nak, term) itself: a message is acked
 * only once what it caused is durable, and the lane never acks. A message
 * the lane will not hand over (it stops, or resets) is left unacked: a
 * takeover delivers it again at once and in stream order, and on a shared
 * consumer it comes back after its ack wait.
 *
 * See nats.js `consumer.consume()` and JetStream's pull consumers:
 * https://docs.nats.io/nats-concepts/jetstream/consumers
 */
import type { ConsumerConfig, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { delay } from "./delay.js";
import { ConsumerLaneEndedError, LanePolicyError } from "./errors.js";
import { createInFlight, type InFlight, type LaneOrdering } from "./in-flight.js";
import { ensureConsumer, takeOverConsumer, type ConsumerTakeover } from "./provision.js";
import { backoffDelay, isStorageFull, isTransientFailure, type BackoffPolicy } from "./retry.js";

export type { LaneOrdering } from "./in-flight.js";

/** What the lane does with a message whose handler failed: reset the lane (the message comes again first), or nak it with backoff. */
export type LaneFailureAction = "reset" | "nak";

/** How a lane pulls and hands messages over: data, stated by each user. */
export interface LanePolicy {
  /** messages asked for at once (nats.js `max_messages`): what the client buffers ahead */
  pullBatch: number;
  /** how long one pull waits on the server; short, so a pull lost with its server is made again soon */
  pullExpiresMs: number;
  /** the server's heartbeat while a pull waits; two missed and the client pulls again */
  pullHeartbeatMs: number;
  /** how many handlers run at once, and in which order */
  ordering: LaneOrdering;
  /**
   * The consumer is this lane's alone: it is taken over at the start and at
   * every reset (messages left unacked come back at once, in order, and
   * whoever held them can no longer ack them), and a gap in the delivery
   * sequence — a delivery lost in transit, which would otherwise come back
   * only after its ack wait, behind newer ones — resets the lane.
   */
  takeover: boolean;
  /** what a handler's failure does: a transient one (NATS unavailable, its store full) and any other */
  onFailure: { transient: LaneFailureAction; other: LaneFailureAction };
  /**
   * When pulling fails (the client's messages end, by an error or not; a gap
   * always resets a lane that takes its consumer over):
   * `reset` — stop taking, let the handlers in flight end, claim the consumer
   * again and pull anew, with backoff until it works; `end` — stop, and
   * resolve {@link ConsumerLane.ended} (a consumer removed under the lane ends
   * it too).
   */
  whenPullFails: "reset" | "end";
}

/** The defaults: short pulls (5 s, heartbeat 1 s) of 128, handlers side by side, a shared consumer, failures nak'ed, a reset when a pull fails. */
export function defaultLanePolicy(): LanePolicy {
  return {
    pullBatch: 128,
    pullExpiresMs: 5_000,
    pullHeartbeatMs: 1_000,
    ordering: { kind: "parallel", maxInFlight: 256 },
    takeover: false,
    onFailure: { transient: "nak", other: "nak" },
    whenPullFails: "reset",
  };
}

/**
 * The reasons `policy` cannot work, none when it can: a pull of at least one
 * message, expiring after 1 s or more (nats.js's floor) and later than its
 * heartbeat; room for a handler; and a reset on a handler's failure only
 * where a takeover follows (on a shared consumer the message would wait out
 * its ack wait).
 */
export function lanePolicyProblems(p: LanePolicy): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(p.pullBatch) || p.pullBatch < 1) problems.push(`pullBatch must be a whole number ≥ 1, not ${p.pullBatch}`);
  if (!(p.pullExpiresMs >= 1_000)) problems.push(`pullExpiresMs must be ≥ 1000, not ${p.pullExpiresMs}`);
  if (!(p.pullHeartbeatMs > 0 && p.pullHeartbeatMs < p.pullExpiresMs))
    problems.push(`pullHeartbeatMs must be > 0 and below pullExpiresMs, not ${p.pullHeartbeatMs}`);
  if (p.ordering.kind !== "serial" && !(p.ordering.maxInFlight >= 1)) problems.push(`maxInFlight must be ≥ 1, not ${p.ordering.maxInFlight}`);
  if (!p.takeover && (p.onFailure.transient === "reset" || p.onFailure.other === "reset"))
    problems.push("a reset on a handler's failure needs takeover: on a shared consumer the message would wait out its ack wait");
  return problems;
}

/** Facts a lane reports, for logs and metrics. */
export type LaneEvent =
  /** a delivery was lost in transit: the lane resets and gets it again, in order */
  | { type: "lane.gap"; expected: number; got: number }
  /** pulling failed, or claiming the consumer again did (then tried again in `retryInMs`) */
  | { type: "lane.failed"; error: string; retryInMs?: number }
  /** the lane ended for good (`whenPullFails: "end"`) */
  | { type: "lane.ended"; error: string }
  /** a handler failed and its message was nak'ed, to come again in `retryInMs` */
  | { type: "message.failed"; error: string; retryInMs: number };

/** A durable consumer's spec, as `bus/specs.ts` builds them. */
export type LaneConsumerSpec = Partial<ConsumerConfig> & { durable_name: string };

/** Options of {@link startConsumerLane}. */
export interface ConsumerLaneOptions {
  bus: { js: JetStreamClient; jsm: JetStreamManager };
  stream: string;
  /** the consumer: made if missing (taken over, with `policy.takeover`) */
  consumer: LaneConsumerSpec;
  policy: LanePolicy;
  /** the delay of a nak after a failure, and between tries to claim the consumer again */
  backoff: BackoffPolicy;
  /** handles one message and settles it; a rejection is a failure (see `policy.onFailure`) */
  handle: (m: JsMsg) => Promise<void>;
  /** told what each takeover found, before any message is taken (`first`: the lane's start) */
  onTakeover?: (t: ConsumerTakeover, first: boolean) => Promise<void> | void;
  onEvent?: (e: LaneEvent) => void;
}

/** A running lane. */
export interface ConsumerLane {
  /** the consumer's durable name */
  readonly consumer: string;
  /** handlers taken and not ended */
  inFlight(): number;
  /** resets the lane (after the connection to NATS was lost and re-established: deliveries and acks on the old one may be gone) */
  resync(): void;
  /** stops pulling; resolves once nothing more is taken (handlers in flight go on) */
  stopPulling(): Promise<void>;
  /** resolves when every handler taken has ended */
  drained(): Promise<void>;
  /** resolves when a lane with `whenPullFails: "end"` ended by itself; never after {@link ConsumerLane.stopPulling} */
  readonly ended: Promise<ConsumerLaneEndedError>;
}

/**
 * Starts a lane: claims its consumer (takes it over, or makes sure it exists)
 * and starts pulling. Rejects when the consumer cannot be claimed or pulled
 * (retrying that is the caller's: a partition fails its start, a skill pool
 * tries again).
 * @throws {@link LanePolicyError} when the policy cannot work ({@link lanePolicyProblems})
 */
export async function startConsumerLane(o: ConsumerLaneOptions): Promise<ConsumerLane> {
  const problems = lanePolicyProblems(o.policy);
  if (problems.length > 0) throw new LanePolicyError(o.consumer.durable_name, problems.join("; "));
  const lane = new Lane(o);
  await lane.open(true);
  return lane;
}

/**
 * What the loop does after taking a message: go on, or stop reading the pull
 * — what it still holds is left unacked. Reading a closed pull on would send
 * the pull requests queued among its messages, which the server answers into
 * an inbox that is gone (and a nak of what it holds races with those: in the
 * tests a message went nowhere, another to two readers).
 */
type Next = "next" | "break";

class Lane implements ConsumerLane {
  readonly consumer: string;
  readonly ended: Promise<ConsumerLaneEndedError>;
  private readonly handlers: InFlight;
  private readonly emit: (e: LaneEvent) => void;
  /** cuts the waits between tries to claim the consumer again */
  private readonly stopping = new AbortController();
  private end!: (e: ConsumerLaneEndedError) => void;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> = Promise.resolve();
  private resetting: Promise<void> | undefined;
  /** between a reset's start and its new pull: nothing is taken */
  private paused = false;
  private stopped = false;
  private over = false;
  private lastDelivery = 0;

  constructor(private readonly o: ConsumerLaneOptions) {
    this.consumer = o.consumer.durable_name;
    this.handlers = createInFlight(o.policy.ordering);
    this.emit = o.onEvent ?? (() => {});
    this.ended = new Promise((r) => (this.end = r));
  }

  inFlight(): number {
    return this.handlers.size;
  }

  resync(): void {
    if (!this.stopped && !this.over) void this.reset();
  }

  async stopPulling(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    // a reset under way ends its tries; one that just opened leaves messages to close
    await this.resetting;
    void this.messages?.close().catch(() => undefined);
    this.handlers.wake();
    await this.loop;
  }

  drained(): Promise<void> {
    return this.handlers.drained();
  }

  /** Claims the consumer and starts the loop that reads it. */
  async open(first: boolean): Promise<void> {
    const { o } = this;
    const p = o.policy;
    if (p.takeover) {
      // (not inside `onTakeover?.(…)`: an optional call skips its arguments when there is no hook)
      const t = await takeOverConsumer(o.bus.jsm, o.stream, o.consumer);
      await o.onTakeover?.(t, first);
    } else await ensureConsumer(o.bus.jsm, o.stream, o.consumer);
    const consumer = await o.bus.js.consumers.get(o.stream, this.consumer);
    this.lastDelivery = 0;
    this.paused = false;
    const messages = await consumer.consume({
      max_messages: p.pullBatch,
      expires: p.pullExpiresMs,
      idle_heartbeat: p.pullHeartbeatMs,
      abort_on_missing_resource: p.whenPullFails === "end",
    });
    this.messages = messages;
    this.loop = this.consumeLoop(messages);
  }

  /** Reads the pull until it closes; iterating (not a callback) lets the in-flight bound hold the next pull back. */
  private async consumeLoop(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const m of messages) if ((await this.take(m)) === "break") break;
    } catch (e) {
      return this.pullFailed(e);
    }
    if (!this.stopped && !this.paused) this.pullFailed(new Error("the consumer's messages ended"));
  }

  /** Hands a message to its handler once there is room, unless the lane stops, resets, or finds a gap. */
  private async take(m: JsMsg): Promise<Next> {
    if (this.stopped || this.paused) return "break";
    if (this.o.policy.takeover) {
      const d = m.info.deliverySequence;
      if (this.lastDelivery > 0 && d > this.lastDelivery + 1) {
        this.emit({ type: "lane.gap", expected: this.lastDelivery + 1, got: d });
        void this.reset();
        return "break";
      }
      this.lastDelivery = Math.max(this.lastDelivery, d);
    }
    await this.handlers.room();
    if (this.stopped || this.paused) return "break";
    this.handlers.run(m, () => this.handle(m));
    return "next";
  }

  private async handle(m: JsMsg): Promise<void> {
    // its turn came (behind its key) after the lane stopped or began a reset: left, as the rest of the pull
    if (this.stopped || this.paused) return;
    try {
      await this.o.handle(m);
    } catch (e) {
      this.failed(m, e);
    }
  }

  /** A handler failed: as the policy says for its kind of failure; nothing once the lane stops (the message comes again to whoever reads next). */
  private failed(m: JsMsg, e: unknown): void {
    if (this.stopped) return;
    const transient = isTransientFailure(e) || isStorageFull(e);
    const action = transient ? this.o.policy.onFailure.transient : this.o.policy.onFailure.other;
    // a reset leaves it unacked: the takeover delivers it again first (a nak would send it behind later messages)
    if (action === "reset") return void this.reset();
    const retryInMs = backoffDelay(this.o.backoff, m.info.deliveryCount - 1);
    m.nak(retryInMs);
    this.emit({ type: "message.failed", error: e instanceof Error ? e.message : String(e), retryInMs });
  }

  private pullFailed(e: unknown): void {
    if (this.stopped || this.over) return;
    const error = e instanceof Error ? e : new Error(String(e));
    if (this.o.policy.whenPullFails === "reset") {
      this.emit({ type: "lane.failed", error: error.message });
      return void this.reset();
    }
    this.over = true;
    this.emit({ type: "lane.ended", error: error.message });
    this.end(new ConsumerLaneEndedError(this.o.stream, this.consumer, { cause: error }));
  }

  /**
   * Stops taking messages, lets the handlers in flight end (their acks reach
   * the consumer before a takeover recreates it), then claims the consumer
   * again and pulls anew — with backoff while NATS is unavailable (an
   * election, a restart). One reset at a time; those asked for meanwhile join it.
   */
  private reset(): Promise<void> {
    return (this.resetting ??= (async () => {
      this.paused = true;
      try {
        void this.messages?.close().catch(() => undefined);
        this.handlers.wake();
        await this.loop;
        await this.handlers.drained();
        for (let attempt = 0; !this.stopped; attempt++) {
          try {
            return await this.open(false);
          } catch (e) {
            const retryInMs = backoffDelay(this.o.backoff, attempt);
            this.emit({ type: "lane.failed", error: e instanceof Error ? e.message : String(e), retryInMs });
            await delay(retryInMs, this.stopping.signal);
          }
        }
      } finally {
        this.resetting = undefined;
      }
    })());
  }
}
