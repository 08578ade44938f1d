/**
 * The fallback router, for a NATS that does not partition inbound subjects
 * (a server the user cannot configure). It reads raw `claw.in.<c>.<a>.<chat>`
 * from `CLAW_IN_RAW` one message at a time and republishes each to its
 * partition, so per-chat order holds as long as one router runs at a time.
 * It costs one extra JetStream hop per message.
 */
import type { JsMsg } from "@nats-io/jetstream";
import {
  chatPartition,
  deadLetterOf,
  defaultLanePolicy,
  fromHeaders,
  H,
  isTransientFailure,
  parseInboundSubject,
  partitionedInboundSubject,
  publishDeadLetter,
  publishDurable,
  routerConsumerSpec,
  startConsumerLane,
  STREAMS,
  type BackoffPolicy,
  type Bus,
  type ConsumerOptions,
  type LanePolicy,
} from "../bus/index.js";
import { headerGetter } from "./inbound-message.js";

/** Options of {@link startRouter}. */
export interface RouterOptions {
  bus: Bus;
  partitions: number;
  nodeId: string;
  backoff: BackoffPolicy;
  /** prefix of default msg ids (per stream incarnation) */
  idPrefix: string;
  consumer: ConsumerOptions;
}

/** A running router. */
export interface Router {
  /** takes the consumer over again (after a lost connection) */
  resync(): void;
  stop(): Promise<void>;
}

/**
 * The router's lane: strictly one at a time, so the order of publishes is the
 * order of the raw stream; its consumer is the router's alone (taken over on
 * start and after a reconnect, so a dead router's messages come back at once
 * and first). Any failure resets it: the message comes again before the next
 * (a nak would send it behind later messages of its chat).
 */
const ROUTER_POLICY: LanePolicy = {
  ...defaultLanePolicy(),
  pullBatch: 256,
  ordering: { kind: "serial" },
  takeover: true,
  onFailure: { transient: "reset", other: "reset" },
};

/** Starts the fallback router. */
export async function startRouter(o: RouterOptions): Promise<Router> {
  async function deadLetter(m: JsMsg, code: string, reason: string): Promise<void> {
    await publishDeadLetter(o.bus.publisher, deadLetterOf(m, { stage: "router", code, reason, node: o.nodeId }));
    m.ack();
  }

  async function route(m: JsMsg): Promise<void> {
    const header = headerGetter(m.headers);
    if (header(H.probe) !== undefined) return m.ack();
    const addr = parseInboundSubject(m.subject);
    if (!addr) return deadLetter(m, "bad_subject", `not an inbound subject: ${m.subject}`);
    // keep the publisher's msg id (so ingress sees it) or derive one from the raw stream sequence
    const msgId = header(H.msgId) ?? `${o.idPrefix}-${m.seq}`;
    const headers = { ...fromHeaders(m.headers), [H.msgId]: msgId };
    try {
      await publishDurable(o.bus.publisher, { subject: partitionedInboundSubject(chatPartition(addr, o.partitions), addr), data: m.data, msgId, headers });
    } catch (e) {
      // NATS is unavailable: the lane takes the consumer over once it answers
      if (isTransientFailure(e)) throw e;
      // the server refused it: nothing will change by trying again (a failing dead letter resets the lane)
      return deadLetter(m, "route_refused", `the partitioned subject refused it: ${(e as Error).message}`);
    }
    m.ack();
  }

  const lane = await startConsumerLane({
    bus: o.bus,
    stream: STREAMS.inRaw,
    consumer: routerConsumerSpec(o.consumer),
    policy: ROUTER_POLICY,
    backoff: o.backoff,
    handle: route,
  });
  return {
    resync: () => lane.resync(),
    async stop() {
      await lane.stopPulling();
      await lane.drained();
    },
  };
}
