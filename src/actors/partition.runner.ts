/**
 * The partition owner's runner: binds one partition's two mailboxes
 * (`claw.in.<p>.>` and `claw.session.<p>.>`) to ingress and the session host.
 * A message is acked only after everything it caused is durable: the reply
 * published and the snapshot written, or the forward / dead letter published.
 */
import { JetStreamApiError, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import {
  backoffDelay,
  encode,
  ensureConsumer,
  partitionConsumerSpec,
  withRetry,
  type ConsumerOptions,
  H,
  outboundSubject,
  parseInboundSubject,
  partitionConsumerName,
  publishDeadLetter,
  publishDurable,
  STREAMS,
  type BackoffPolicy,
  type Bus,
  type ChatAddress,
  type Envelope,
} from "../bus/index.js";
import type { AgentSpec } from "./agents.js";
import { loadCrashSuspects, type CrashSuspects } from "./crash-suspects.js";
import { toInboundMessage } from "./inbound-message.js";
import { decideInbound, decideSessionMail, type IngressDecision } from "./ingress.js";
import type { SessionHost, TurnOutcome } from "./session-host.js";

/** Facts a partition runner reports, for logs and metrics. */
export type PartitionEvent =
  | { type: "message.dead"; partition: number; stage: string; code: string; reason: string; subject: string }
  | { type: "message.forwarded"; partition: number; to: string }
  | { type: "consumer.failed"; partition: number; stage: string; error: string };

/** Options of {@link createPartitionRunner}. */
export interface PartitionRunnerOptions {
  bus: Bus;
  host: SessionHost;
  agents: readonly AgentSpec[];
  partition: number;
  partitions: number;
  nodeId: string;
  maxPayload: number;
  /** deliveries after which a message that keeps failing (or crashing its node) is dead-lettered */
  maxDeliver: number;
  backoff: BackoffPolicy;
  /** messages each consumer buffers ahead (pull batch) */
  batch: number;
  /** default message id prefix per stream incarnation (see ingress) */
  idPrefix: { in: string; session: string };
  consumer: ConsumerOptions;
  /** KV `claw_cluster`: where crash suspects are kept */
  cluster: KV;
  onEvent?: (e: PartitionEvent) => void;
}

/** A running partition. */
export interface PartitionRunner {
  readonly partition: number;
  /** stop pulling new messages */
  stopPulling(): Promise<void>;
  /** resolves when every message in progress is settled (acked or given back) */
  drained(): Promise<void>;
}

type Stage = "in" | "session";

/** A notice to the sender that their message could not be processed. */
function errorNotice(to: ChatAddress, replyTo: string | undefined, id: string, text: string, code: string): Envelope {
  return {
    id,
    ts: Date.now(),
    channel: to.channel,
    account: to.account,
    chat: to.chat,
    sender: { id: "claw" },
    kind: "error",
    text,
    media: [],
    replyTo,
    metadata: { code },
    trace: {},
  };
}

/** Starts consuming one partition. */
export async function createPartitionRunner(o: PartitionRunnerOptions): Promise<PartitionRunner> {
  const { bus, partition: p } = o;
  const emit = o.onEvent ?? (() => {});
  const inFlight = new Set<Promise<void>>();
  const consumers: ConsumerMessages[] = [];
  let stopped = false;

  async function deadLetter(m: JsMsg, stage: string, code: string, reason: string, extra: { field?: string; msgId?: string; firstError?: string; deliveries?: number; notify?: { to: ChatAddress; replyTo?: string } } = {}) {
    await publishDeadLetter(bus.js, {
      stage,
      code,
      reason,
      subject: m.subject,
      data: m.data,
      headers: m.headers,
      stream: m.info.stream,
      streamSeq: m.seq,
      deliveries: extra.deliveries ?? m.info.deliveryCount,
      node: o.nodeId,
      field: extra.field,
      msgId: extra.msgId,
      firstError: extra.firstError,
      lastError: reason,
    });
    emit({ type: "message.dead", partition: p, stage, code, reason, subject: m.subject });
    if (extra.notify) {
      const id = `dlq:${m.info.stream}:${m.seq}:error`;
      const notice = errorNotice(extra.notify.to, extra.notify.replyTo, id, `Claw could not process this message: ${reason}`, code);
      await publishDurable(bus.js, { subject: outboundSubject(notice), data: encode(notice), msgId: id, headers: { [H.node]: o.nodeId } });
    }
  }

  async function settle(m: JsMsg, d: IngressDecision, stage: Stage, attempts: number): Promise<void> {
    switch (d.kind) {
      case "drop":
        m.ack();
        return;
      case "dead": {
        const addr = stage === "in" ? parseInboundSubject(m.subject) : undefined;
        await deadLetter(m, stage === "in" ? "ingress" : "session", d.code, d.reason, {
          field: d.field,
          notify: addr ? { to: addr, replyTo: m.headers?.get(H.msgId) || undefined } : undefined,
        });
        m.ack();
        return;
      }
      case "forward":
        await publishDurable(bus.js, { subject: d.subject, data: encode(d.envelope), msgId: d.msgId, headers: { [H.node]: o.nodeId } });
        emit({ type: "message.forwarded", partition: p, to: d.subject });
        m.ack();
        return;
      case "turn": {
        const outcome: TurnOutcome = await o.host.deliver({
          agent: d.agent,
          session: d.session,
          envelope: d.envelope,
          deliveries: attempts,
          keepAlive: () => m.working(),
          onFailed: (f) =>
            deadLetter(m, "session", f.failure.code, f.failure.message, {
              msgId: d.envelope.id,
              firstError: f.firstError,
              deliveries: f.attempts,
              notify: { to: d.envelope, replyTo: d.envelope.id },
            }),
        });
        if (outcome.kind === "released") m.nak();
        else m.ack(); // answered, or failed and dead-lettered
        return;
      }
    }
  }

  async function handle(m: JsMsg, stage: Stage, suspects: CrashSuspects): Promise<void> {
    const inbound = toInboundMessage(m, o.idPrefix[stage]);
    try {
      const attempts = m.info.deliveryCount + suspects.crashes(m.seq);
      const d =
        stage === "in"
          ? decideInbound(inbound, { agents: o.agents, partitions: o.partitions, partition: p, maxPayload: o.maxPayload })
          : decideSessionMail(inbound, o.agents);
      if (attempts > o.maxDeliver && (d.kind === "turn" || d.kind === "forward")) {
        // delivered this often without being settled: it probably crashes its node
        await deadLetter(m, stage === "in" ? "ingress" : "session", "max_deliveries", `not settled after ${attempts - 1} deliveries (the node processing it died)`, {
          deliveries: attempts - 1,
          msgId: d.envelope.id,
          notify: { to: d.envelope, replyTo: d.envelope.id },
        });
        m.ack();
        return;
      }
      await settle(m, d, stage, attempts);
    } catch {
      // publishing the effect failed even after retries (NATS unreachable): try again later
      if (!stopped) m.nak(backoffDelay(o.backoff, m.info.deliveryCount - 1));
    }
  }

  /**
   * Takes the partition's consumer over. If the previous owner left messages
   * unacked (it died), the consumer is recreated: JetStream then redelivers them
   * at once and in stream order — instead of after their ack wait, behind newer
   * messages of the same session — and the old owner can no longer ack anything
   * (it is fenced off).
   */
  async function takeover(stage: Stage, stream: string): Promise<CrashSuspects> {
    const spec = partitionConsumerSpec(stage, p, o.consumer);
    const suspects = await loadCrashSuspects(o.cluster, stage, p);
    const info = await withRetry(() => bus.jsm.consumers.info(stream, spec.durable_name)).catch((e) => {
      if (e instanceof JetStreamApiError && e.status === 404) return undefined;
      throw e;
    });
    if (info && info.num_ack_pending > 0) {
      await suspects.record(info.ack_floor.stream_seq + 1, info.delivered.stream_seq);
      await withRetry(() => bus.jsm.consumers.delete(stream, spec.durable_name));
    }
    await ensureConsumer(bus.jsm, stream, spec);
    return suspects;
  }

  async function start(stage: Stage): Promise<void> {
    const stream = stage === "in" ? STREAMS.in : STREAMS.sessions;
    const suspects = await takeover(stage, stream);
    const consumer = await bus.js.consumers.get(stream, partitionConsumerName(stage, p));
    const messages = await consumer.consume({
      max_messages: o.batch,
      callback: (m) => {
        const t = handle(m, stage, suspects);
        inFlight.add(t);
        void t.finally(() => inFlight.delete(t));
      },
    });
    consumers.push(messages);
    void messages.closed().then((err) => {
      if (err && !stopped) emit({ type: "consumer.failed", partition: p, stage, error: String(err) });
    });
  }

  await Promise.all([start("in"), start("session")]);
  return {
    partition: p,
    async stopPulling() {
      stopped = true;
      await Promise.all(consumers.map((c) => c.close().catch(() => undefined)));
    },
    async drained() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
  };
}
