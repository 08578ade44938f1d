/**
 * The way out of one channel account, while it is connected: its replies
 * (`claw.out.<channel>.<account>.>` in `CLAW_OUT`) consumed durably and sent
 * natively, several chats side by side and one chat's replies one at a time
 * in the order of the reply stream. A reply is acked once the native side
 * confirmed it; refused → `CLAW_DLQ` stage `out`; unreachable or slow →
 * given back with backoff (or when the platform asks to wait).
 */
import type { JsMsg } from "@nats-io/jetstream";
import {
  backoffDelay,
  channelConsumerSpec,
  deadLetterOf,
  decode,
  defaultLanePolicy,
  NATIVE_METADATA,
  parseEnvelope,
  publishDeadLetter,
  startConsumerLane,
  STREAMS,
  within,
  type BackoffPolicy,
  type Bus,
  type ConsumerOptions,
  type Envelope,
  type LanePolicy,
} from "../bus/index.js";
import { RefusedSendError, RetryLaterError, type ChannelConnection, type ChannelRunnerEvent } from "./types.js";

/** Replies taken at once, and so sent at most side by side (one chat's still one at a time). */
const SEND_CONCURRENCY = 64;
/** How long one native send may take before the reply is delivered again. */
const SEND_TIMEOUT_MS = 30_000;

/**
 * The replies' lane: one chat (its subject) at a time, chats side by side.
 * The consumer is the account's holder's alone (its lease), so each
 * connection takes it over: a reply a previous connection took and did not
 * send — on this node, or on one that died — comes again at once and in
 * order, not after its ack wait behind the chat's later replies. When the
 * pulling fails the lane ends, and with it the connection (the account then
 * connects anew, after its backoff).
 */
const OUTBOUND_POLICY: LanePolicy = {
  ...defaultLanePolicy(),
  pullBatch: SEND_CONCURRENCY,
  ordering: { kind: "per-key", key: (m) => m.subject, maxInFlight: SEND_CONCURRENCY },
  takeover: true,
  whenPullFails: "end",
};

/** Options of {@link startChannelOutbound}. */
export interface ChannelOutboundOptions {
  bus: Bus;
  type: string;
  account: string;
  nodeId: string;
  backoff: BackoffPolicy;
  consumer: ConsumerOptions;
  /** the account's live connection: where replies are sent */
  connection: ChannelConnection;
  /** tries a publish until it succeeds, NATS being away waited out (the account's way in has it) */
  retrying<T>(what: string, f: () => Promise<T>): Promise<T>;
  emit: (e: ChannelRunnerEvent) => void;
}

/** A connection's way out, running. */
export interface ChannelOutbound {
  /** resolves when the replies can no longer be read (never once stopped) */
  readonly failed: Promise<Error>;
  /** stops taking replies and resolves once those taken are sent or given back */
  stop(): Promise<void>;
}

/** Starts sending an account's replies over its connection. */
export async function startChannelOutbound(o: ChannelOutboundOptions): Promise<ChannelOutbound> {
  const { type, account, emit } = o;

  async function deadLetterReply(m: JsMsg, code: string, reason: string): Promise<void> {
    await o.retrying("dead letter", () => publishDeadLetter(o.bus.publisher, deadLetterOf(m, { stage: "out", code, reason, node: o.nodeId })));
    m.ack();
    emit({ type: "channel.dead", channel: type, account, stage: "out", code, reason });
  }

  async function send(m: JsMsg): Promise<void> {
    let envelope: Envelope;
    try {
      envelope = parseEnvelope(decode(m.data));
    } catch (e) {
      return deadLetterReply(m, "invalid_envelope", (e as Error).message);
    }
    const started = performance.now();
    // a slow native side must not let the reply's ack wait run out
    const keepAlive = setInterval(() => m.working(), Math.max(1_000, Math.floor(o.consumer.ackWaitMs / 3)));
    try {
      const native = envelope.metadata[NATIVE_METADATA];
      const routing = typeof native === "object" && native !== null ? (native as Record<string, unknown>) : undefined;
      await within(
        o.connection.send({ envelope, routing }),
        SEND_TIMEOUT_MS,
        () => new Error(`the native side did not confirm the reply within ${SEND_TIMEOUT_MS} ms`),
      );
      m.ack();
      emit({ type: "channel.sent", channel: type, account, ms: performance.now() - started });
    } catch (e) {
      if (e instanceof RefusedSendError) return deadLetterReply(m, e.code, e.message);
      const retryInMs = e instanceof RetryLaterError ? e.retryAfterMs : backoffDelay(o.backoff, m.info.deliveryCount);
      m.nak(retryInMs);
      emit({ type: "channel.send.failed", channel: type, account, error: (e as Error).message, retryInMs });
    } finally {
      clearInterval(keepAlive);
    }
  }

  const lane = await startConsumerLane({
    bus: o.bus,
    stream: STREAMS.out,
    consumer: channelConsumerSpec(type, account, o.consumer),
    policy: OUTBOUND_POLICY,
    backoff: o.backoff,
    handle: send,
  });
  return {
    failed: lane.ended,
    async stop() {
      await lane.stopPulling();
      await lane.drained();
    },
  };
}
