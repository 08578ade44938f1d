/**
 * The fallback router, for a NATS that does not partition inbound subjects
 * (a server the user cannot configure). It reads raw `claw.in.<c>.<a>.<chat>`
 * from `CLAW_IN_RAW` one message at a time and republishes each to its
 * partition, so per-chat order holds as long as one router runs at a time.
 * It costs one extra JetStream hop per message.
 */
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import {
  backoffDelay,
  chatPartition,
  fromHeaders,
  H,
  parseInboundSubject,
  partitionedInboundSubject,
  publishDeadLetter,
  publishDurable,
  STREAMS,
  type BackoffPolicy,
  type Bus,
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
}

/** A running router. */
export interface Router {
  stop(): Promise<void>;
}

/** Starts the fallback router. */
export async function startRouter(o: RouterOptions): Promise<Router> {
  const consumer = await o.bus.js.consumers.get(STREAMS.inRaw, "router");
  let messages: ConsumerMessages | undefined;
  let stopped = false;

  async function route(m: JsMsg): Promise<void> {
    const header = headerGetter(m.headers);
    if (header(H.probe) !== undefined) return m.ack();
    const addr = parseInboundSubject(m.subject);
    if (!addr) {
      await publishDeadLetter(o.bus.js, {
        stage: "router",
        code: "bad_subject",
        reason: `not an inbound subject: ${m.subject}`,
        subject: m.subject,
        data: m.data,
        headers: m.headers,
        stream: m.info.stream,
        streamSeq: m.seq,
        deliveries: m.info.deliveryCount,
        node: o.nodeId,
      });
      return m.ack();
    }
    // keep the publisher's msg id (so ingress sees it) or derive one from the raw stream sequence
    const msgId = header(H.msgId) ?? `${o.idPrefix}-${m.seq}`;
    const headers = { ...fromHeaders(m.headers), [H.msgId]: msgId };
    await publishDurable(o.bus.js, { subject: partitionedInboundSubject(chatPartition(addr, o.partitions), addr), data: m.data, msgId, headers });
    m.ack();
  }

  const iter = await consumer.consume({ max_messages: 256 });
  messages = iter;
  const loop = (async () => {
    for await (const m of iter) {
      try {
        // strictly one at a time: the order of publishes is the order of the raw stream
        await route(m);
      } catch {
        if (!stopped) m.nak(backoffDelay(o.backoff, m.info.deliveryCount - 1));
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      await messages?.close().catch(() => undefined);
      await loop;
    },
  };
}
