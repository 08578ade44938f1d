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
  deadLetterOf,
  delay,
  fromHeaders,
  H,
  isTransientFailure,
  parseInboundSubject,
  partitionedInboundSubject,
  publishDeadLetter,
  publishDurable,
  routerConsumerSpec,
  STREAMS,
  takeOverConsumer,
  type BackoffPolicy,
  type Bus,
  type ConsumerOptions,
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

const PULL_EXPIRES_MS = 5_000;
const PULL_HEARTBEAT_MS = 1_000;

/** Starts the fallback router. */
export async function startRouter(o: RouterOptions): Promise<Router> {
  const spec = routerConsumerSpec(o.consumer);
  let messages: ConsumerMessages | undefined;
  let stopped = false;

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
    await publishDurable(o.bus.publisher, { subject: partitionedInboundSubject(chatPartition(addr, o.partitions), addr), data: m.data, msgId, headers });
    m.ack();
  }

  /** Pulls and routes until the iterator closes. */
  async function run(iter: ConsumerMessages): Promise<void> {
    for await (const m of iter) {
      if (stopped || resetting) break; // left unacked: routed again after the takeover, in order
      try {
        // strictly one at a time: the order of publishes is the order of the raw stream
        await route(m);
      } catch (e) {
        if (stopped) break;
        if (isTransientFailure(e)) {
          // NATS is unavailable: take the consumer over once it answers, which delivers this
          // message again first (a nak would send it behind later messages of its chat)
          void reset();
          break;
        }
        // the server refused it: nothing will change by trying again
        await deadLetter(m, "route_refused", `the partitioned subject refused it: ${(e as Error).message}`).catch(() => void reset());
        if (resetting) break;
      }
    }
  }

  async function open(): Promise<void> {
    await takeOverConsumer(o.bus.jsm, STREAMS.inRaw, spec);
    const consumer = await o.bus.js.consumers.get(STREAMS.inRaw, spec.durable_name);
    // short pulls and heartbeats, as the partition runners: a lost pull is noticed within seconds
    messages = await consumer.consume({ max_messages: 256, expires: PULL_EXPIRES_MS, idle_heartbeat: PULL_HEARTBEAT_MS });
    loop = run(messages);
  }

  let resetting: Promise<void> | undefined;
  const reset = () =>
    (resetting ??= (async () => {
      try {
        await messages?.close().catch(() => undefined);
        await loop;
        for (let attempt = 0; !stopped; attempt++) {
          try {
            return await open();
          } catch {
            await delay(backoffDelay(o.backoff, attempt));
          }
        }
      } finally {
        resetting = undefined;
      }
    })());

  let loop: Promise<void> = Promise.resolve();
  await open();
  return {
    resync: () => void reset(),
    async stop() {
      stopped = true;
      await resetting?.catch(() => undefined);
      await messages?.close().catch(() => undefined);
      await loop;
    },
  };
}
