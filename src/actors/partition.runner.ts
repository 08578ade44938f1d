/**
 * The partition owner's runner: binds one partition's two mailboxes
 * (`claw.in.<p>.>` and `claw.session.<p>.>`) to ingress and the session host.
 * A message is acked only after everything it caused is durable: the reply
 * published and the snapshot written, or the forward / dead letter published.
 */
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import {
  backoffDelay,
  encode,
  takeOverConsumer,
  sessionKey,
  traceIdOf,
  partitionConsumerSpec,
  type ConsumerOptions,
  H,
  isStorageFull,
  isTransientFailure,
  nativeRoutingOf,
  parseInboundSubject,
  partitionConsumerName,
  publishDurable,
  STREAMS,
  type BackoffPolicy,
  type Bus,
} from "../bus/index.js";
import type { AgentSpec } from "./agents.js";
import { loadCrashSuspects, type CrashSuspects } from "./crash-suspects.js";
import { toInboundMessage } from "./inbound-message.js";
import { decideInbound, decideSessionMail, type IngressDecision } from "./ingress.js";
import { turnTraceparent } from "./turn.js";
import { deadLetterMessage, noticeTrace, type DeadLetterDetails } from "./message-dead-letter.js";
import { sessionLogFields, type FailedTurn, type MessageLogFields, type SessionHost, type TurnOutcome, type TurnTiming } from "./session-host.js";
import { NO_TRACING, type Tracing } from "../observability/tracing.js";

/** Facts a partition runner reports, for logs and metrics. */
export type PartitionEvent =
  | ({ type: "message.dead"; partition: number; stage: string; code: string; reason: string; subject: string } & MessageLogFields)
  | ({ type: "message.forwarded"; partition: number; to: string } & MessageLogFields)
  | { type: "consumer.failed"; partition: number; stage: string; error: string }
  | { type: "delivery.gap"; partition: number; stage: string; expected: number; got: number }
  /** a message reached its session (ingress done); `pending` is what waits behind it in this consumer */
  | ({ type: "message.accepted"; partition: number; stage: string; channel: string; deliveries: number; pending: number; ingressMs: number } & MessageLogFields)
  /**
   * a session turn ended and its message was settled: `pickupMs` from being stored in its stream
   * to its pickup here, `sessionMs` from then to the end of its turn (of which `timing` tells
   * where), `endToEndMs` from the message's `ts` (by default: when it was stored)
   */
  | ({ type: "message.settled"; partition: number; stage: string; channel: string; outcome: TurnOutcome["kind"]; pickupMs: number; sessionMs: number; endToEndMs: number; timing?: TurnTiming } & MessageLogFields);

/** Options of {@link createPartitionRunner}. */
export interface PartitionRunnerOptions {
  bus: Bus;
  host: SessionHost;
  /** the agents now (the registry changes them without a restart) */
  agents: () => readonly AgentSpec[];
  /** the agent for messages no binding matches */
  defaultAgent?: () => string | undefined;
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
  /** hop spans (ingress, session turn) */
  tracing?: Tracing;
  onEvent?: (e: PartitionEvent) => void;
}

/** A running partition. */
export interface PartitionRunner {
  readonly partition: number;
  /** stop pulling new messages */
  stopPulling(): Promise<void>;
  /** resolves when every message in progress is settled (acked or given back) */
  drained(): Promise<void>;
  /**
   * Takes both mailboxes over again (after the connection to NATS was lost
   * and re-established: deliveries and acks on the old connection may be
   * gone, and their messages would otherwise wait out their ack wait).
   */
  resync(): void;
}

type Stage = "in" | "session";

const PULL_EXPIRES_MS = 5_000;
const PULL_HEARTBEAT_MS = 1_000;

/** Starts consuming one partition. */
export async function createPartitionRunner(o: PartitionRunnerOptions): Promise<PartitionRunner> {
  const { bus, partition: p } = o;
  const emit = o.onEvent ?? (() => {});
  const tracing = o.tracing ?? NO_TRACING;
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  // aborted when the partition stops pulling: messages waiting behind a suspended turn are given back
  const releasing = new AbortController();

  async function deadLetter(m: JsMsg, stage: string, code: string, reason: string, log: MessageLogFields, details: DeadLetterDetails = {}) {
    await deadLetterMessage(bus, o.nodeId, m, { stage, code, reason }, details);
    emit({ type: "message.dead", stage, code, reason, subject: m.subject, ...log, partition: p });
  }

  /** Log fields of a message: its envelope's when it has one, else the stream message's. */
  function logFields(m: JsMsg, d: IngressDecision, stage: Stage): MessageLogFields {
    if (d.kind === "turn") return sessionLogFields(sessionKey(d.agent.id, d.session), d.envelope, p);
    const actor = stage === "in" ? `ingress/p${p}` : `session-mailbox/p${p}`;
    if (d.kind === "forward") return { msg_id: d.envelope.id, trace_id: traceIdOf(d.envelope.trace.traceparent ?? ""), partition: p, actor };
    const tp = m.headers?.get(H.traceparent);
    return { msg_id: m.headers?.get(H.msgId) || `${m.info.stream}:${m.seq}`, trace_id: tp ? traceIdOf(tp) : undefined, partition: p, actor };
  }

  /** The ingress hop's span: from taking the message to handing it on. */
  function traceIngress(d: Extract<IngressDecision, { kind: "forward" | "turn" }>, startMs: number): void {
    const tp = d.envelope.trace.traceparent;
    if (!tp) return;
    tracing.record({
      name: "claw.ingress",
      kind: "consumer",
      traceparent: tp,
      parent: d.traceParent,
      startMs,
      endMs: Date.now(),
      attributes: { "messaging.system": "nats", "messaging.message.id": d.envelope.id, "claw.partition": p, "claw.channel": d.envelope.channel, "claw.decision": d.kind },
    });
  }

  async function settle(m: JsMsg, d: IngressDecision, stage: Stage, attempts: number, startMs: number, log: MessageLogFields, pickupMs: number): Promise<void> {
    switch (d.kind) {
      case "drop":
        m.ack();
        return;
      case "dead": {
        const addr = stage === "in" ? parseInboundSubject(m.subject) : undefined;
        await deadLetter(m, stage === "in" ? "ingress" : "session", d.code, d.reason, log, {
          field: d.field,
          ...(d.replyTo ? { msgId: d.replyTo } : {}),
          notify: addr ? { to: addr, replyTo: d.replyTo ?? (m.headers?.get(H.msgId) || undefined) } : undefined,
        });
        m.ack();
        return;
      }
      case "forward":
        await publishDurable(bus.publisher, {
          subject: d.subject,
          data: encode(d.envelope),
          msgId: d.msgId,
          headers: { [H.node]: o.nodeId, ...(d.envelope.trace.traceparent ? { [H.traceparent]: d.envelope.trace.traceparent } : {}) },
        });
        emit({ type: "message.forwarded", to: d.subject, ...log, partition: p });
        if (tracing.enabled) traceIngress(d, startMs);
        m.ack();
        return;
      case "turn":
      case "mail":
        return settleSession(m, d, stage, attempts, startMs, log, pickupMs);
    }
  }

  /** Hands a turn or mail to its session and settles the message by how it ended. */
  async function settleSession(m: JsMsg, d: Extract<IngressDecision, { kind: "turn" | "mail" }>, stage: Stage, attempts: number, startMs: number, log: MessageLogFields, pickupMs: number): Promise<void> {
    if (d.kind === "mail" && d.mail.type === "tool.deadline" && d.mail.notBefore > Date.now()) {
      // a durable timer: back in the mailbox when it is due (its turn may well be over by then)
      m.nak(d.mail.notBefore - Date.now());
      return;
    }
    const started = performance.now();
    const turnStartMs = tracing.enabled ? Date.now() : 0;
    if (tracing.enabled && d.kind === "turn" && stage === "in") traceIngress(d, startMs);
    const common = {
      agent: d.agent,
      session: d.session,
      deliveries: attempts,
      keepAlive: () => m.working(),
      signal: releasing.signal,
      onFailed: (f: FailedTurn) =>
        deadLetter(m, "session", f.failure.code, f.failure.message, log, {
          msgId: f.turn.id,
          firstError: f.firstError,
          deliveries: f.attempts,
          // the notice is published by the failed turn: a child of its span
          notify: { to: f.turn, replyTo: f.turn.id, trace: noticeTrace(f.turn), routing: nativeRoutingOf(f.turn), retryable: f.failure.transient },
        }),
    };
    const outcome: TurnOutcome = d.kind === "turn" ? await o.host.deliver({ ...common, envelope: d.envelope, log }) : await o.host.deliverMail({ ...common, mail: d.mail });
    if (outcome.kind === "released") m.nak();
    else m.ack(); // answered, suspended, dropped (stale mail), or failed and dead-lettered
    if (d.kind === "mail") return;
    if (tracing.enabled && outcome.kind !== "released" && d.envelope.trace.traceparent) {
      tracing.record({
        name: "claw.session",
        traceparent: turnTraceparent(d.envelope)!,
        parent: d.envelope.trace.traceparent,
        startMs: turnStartMs,
        endMs: Date.now(),
        attributes: { "claw.agent": d.agent.id, "claw.session": d.session, "claw.partition": p, "messaging.message.id": d.envelope.id, "claw.outcome": outcome.kind, "claw.attempts": attempts },
        error: outcome.kind === "failed" ? `${outcome.failure.code}: ${outcome.failure.message}` : undefined,
      });
    }
    emit({
      type: "message.settled",
      partition: p,
      stage,
      channel: d.envelope.channel,
      outcome: outcome.kind,
      pickupMs,
      sessionMs: performance.now() - started,
      timing: outcome.kind === "answered" || outcome.kind === "suspended" ? outcome.timing : undefined,
      endToEndMs: Date.now() - d.envelope.ts,
      ...log,
    });
  }

  async function handle(m: JsMsg, stage: Stage, suspects: CrashSuspects, resync: () => void): Promise<void> {
    const inbound = toInboundMessage(m, o.idPrefix[stage]);
    const started = performance.now();
    const pickupMs = Date.now() - inbound.storedAt;
    const startMs = tracing.enabled ? Date.now() : 0;
    try {
      const attempts = m.info.deliveryCount + suspects.crashes(m.seq);
      const d =
        stage === "in"
          ? decideInbound(inbound, { agents: o.agents(), defaultAgent: o.defaultAgent?.(), partitions: o.partitions, partition: p, maxPayload: o.maxPayload })
          : decideSessionMail(inbound, o.agents());
      const log = logFields(m, d, stage);
      if (attempts > o.maxDeliver && (d.kind === "turn" || d.kind === "forward")) {
        // delivered this often without being settled: it probably crashes its node
        await deadLetter(m, stage === "in" ? "ingress" : "session", "max_deliveries", `not settled after ${attempts - 1} deliveries (the node processing it died)`, log, {
          deliveries: attempts - 1,
          msgId: d.envelope.id,
          notify: { to: d.envelope, replyTo: d.envelope.id, routing: nativeRoutingOf(d.envelope) },
        });
        m.ack();
        return;
      }
      if (d.kind === "turn") {
        emit({
          type: "message.accepted",
          partition: p,
          stage,
          channel: d.envelope.channel,
          deliveries: m.info.deliveryCount,
          pending: m.info.pending,
          ingressMs: performance.now() - started,
          ...log,
        });
      }
      await settle(m, d, stage, attempts, startMs, log, pickupMs);
    } catch (e) {
      if (stopped) return;
      if (isTransientFailure(e) || isStorageFull(e)) {
        // publishing the effect failed while NATS was unavailable: leave the message unacked and
        // take the mailbox over once NATS answers, which delivers it again first (a nak would
        // send it behind later messages of its session)
        resync();
        return;
      }
      m.nak(backoffDelay(o.backoff, m.info.deliveryCount - 1));
    }
  }

  /**
   * Takes the partition's consumer over (see `takeOverConsumer`: messages left
   * unacked come back at once, in order). Only a takeover from another owner
   * counts as a crash of those messages.
   */
  async function takeover(stage: Stage, stream: string, suspects: CrashSuspects, countCrashes: boolean): Promise<void> {
    const { leftUnacked } = await takeOverConsumer(bus.jsm, stream, partitionConsumerSpec(stage, p, o.consumer));
    if (leftUnacked && countCrashes) await suspects.record(leftUnacked.from, leftUnacked.to);
  }

  /**
   * One mailbox of the partition. Consumer delivery sequences are contiguous:
   * a gap means a delivery was lost in transit (a server died while it was on
   * its way), and that message would come back only after its ack wait, behind
   * newer ones. On a gap the lane stops taking messages, finishes what it has,
   * and takes its consumer over again, which redelivers from the gap in order.
   */
  async function lane(stage: Stage): Promise<{ stop(): Promise<void>; resync(): void }> {
    const stream = stage === "in" ? STREAMS.in : STREAMS.sessions;
    const suspects = await loadCrashSuspects(o.cluster, stage, p);
    let messages: ConsumerMessages | undefined;
    let lastDelivery = 0;
    let resetting: Promise<void> | undefined;

    const open = async () => {
      const consumer = await bus.js.consumers.get(stream, partitionConsumerName(stage, p));
      lastDelivery = 0;
      const iter = await consumer.consume({
        max_messages: o.batch,
        // short pulls and heartbeats: when the server holding a pull request dies, the
        // client notices within seconds and pulls again (defaults: 30 s expiry)
        expires: PULL_EXPIRES_MS,
        idle_heartbeat: PULL_HEARTBEAT_MS,
        callback: (m) => {
          if (resetting || stopped) return; // left unacked: redelivered, in order, after the reset
          const d = m.info.deliverySequence;
          if (lastDelivery > 0 && d > lastDelivery + 1) {
            emit({ type: "delivery.gap", partition: p, stage, expected: lastDelivery + 1, got: d });
            void reset();
            return;
          }
          lastDelivery = Math.max(lastDelivery, d);
          const t = handle(m, stage, suspects, () => void reset());
          inFlight.add(t);
          void t.finally(() => inFlight.delete(t));
        },
      });
      messages = iter;
      void iter.closed().then((err) => {
        if (err && !stopped && iter === messages) {
          emit({ type: "consumer.failed", partition: p, stage, error: String(err) });
          void reset();
        }
      });
    };

    const reset = () =>
      (resetting ??= (async () => {
        try {
          await messages?.close().catch(() => undefined);
          while (inFlight.size > 0) await Promise.all([...inFlight]);
          for (let attempt = 0; !stopped; attempt++) {
            try {
              await takeover(stage, stream, suspects, false);
              await open();
              return;
            } catch (e) {
              // NATS is unavailable (an election, a restart): keep trying, this lane has no consumer
              emit({ type: "consumer.failed", partition: p, stage, error: String(e) });
              await new Promise((r) => setTimeout(r, backoffDelay(o.backoff, attempt)));
            }
          }
        } finally {
          resetting = undefined;
        }
      })());

    await takeover(stage, stream, suspects, true);
    await open();
    return {
      resync: () => void reset(),
      async stop() {
        await resetting?.catch(() => undefined);
        await messages?.close().catch(() => undefined);
      },
    };
  }

  const lanes = await Promise.all([lane("in"), lane("session")]);
  return {
    partition: p,
    async stopPulling() {
      stopped = true;
      releasing.abort();
      await Promise.all(lanes.map((l) => l.stop()));
    },
    async drained() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    resync() {
      if (!stopped) for (const l of lanes) l.resync();
    },
  };
}
