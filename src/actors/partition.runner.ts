/**
 * The partition owner's runner: binds one partition's two mailboxes
 * (`claw.in.<p>.>` and `claw.session.<p>.>`) to ingress and the session host,
 * each a consumer lane of its own (bus/consumer-lane.ts) that takes its
 * consumer over. A message is acked only after everything it caused is
 * durable: the reply published and the snapshot written, or the forward /
 * dead letter published (partition-settle.ts, partition-dead-letters.ts).
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import {
  H,
  defaultLanePolicy,
  partitionConsumerSpec,
  startConsumerLane,
  STREAMS,
  type BackoffPolicy,
  type Bus,
  type Envelope,
  type ConsumerLane,
  type ConsumerOptions,
  type LaneEvent,
  type LanePolicy,
} from "../bus/index.js";
import type { AgentSpec } from "./agents.js";
import { loadCrashSuspects, type CrashSuspects } from "./crash-suspects.js";
import { toInboundMessage } from "./inbound-message.js";
import { decideInbound, decideSessionMail, type IngressDecision } from "./ingress.js";
import { turnTraceparent } from "./turn.js";
import { deadLetterFailedTurn, deadLetterUnsettled } from "./partition-dead-letters.js";
import type { PartitionEvent } from "./partition-events.js";
import { messageLogFields, type PartitionScope, type PartitionStage, type TakenMessage } from "./partition-message.js";
import { settleWithoutTurn, traceIngress } from "./partition-settle.js";
import type { SessionHost } from "./session-host.js";
import type { FailedTurn, TurnOutcome } from "./session-requests.js";
import type { TurnAdmission, TurnAdmitted } from "./turn-admission.js";
import { NO_TRACING, type Tracing } from "../observability/tracing.js";

export type { PartitionEvent } from "./partition-events.js";

/** Options of {@link startPartitionRunner}. */
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
  /**
   * Messages the node answers itself, before their session sees them (an approval's `/approve <id>`, which
   * must not wait behind the turn it resumes): resolves true when it answered the message (then acked).
   */
  commands?: (turn: { agent: AgentSpec; session: string; envelope: Envelope }) => Promise<boolean>;
  /** asked before a user message becomes a turn (the tenants' quotas): it may wait, or be refused */
  admission?: TurnAdmission;
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

const STREAM_OF: Record<PartitionStage, string> = { in: STREAMS.in, session: STREAMS.sessions };

/**
 * A mailbox's lane: the consumer is the partition owner's alone, so it is
 * taken over (what a dead owner left unacked comes back at once, in order)
 * and a lost delivery resets it. Handlers run side by side — the session
 * host keeps each session's order — up to what JetStream lets be unacked.
 */
function mailboxPolicy(o: PartitionRunnerOptions): LanePolicy {
  return {
    ...defaultLanePolicy(),
    pullBatch: o.batch,
    ordering: { kind: "parallel", maxInFlight: o.consumer.maxAckPending },
    takeover: true,
    // publishing an effect failed while NATS was unavailable: leave the message unacked and take the mailbox over
    // once NATS answers, which delivers it again first (a nak would send it behind later messages of its session)
    onFailure: { transient: "reset", other: "nak" },
    whenPullFails: "reset",
  };
}

/** Starts consuming one partition: both mailboxes are taken over before this resolves. */
export async function startPartitionRunner(o: PartitionRunnerOptions): Promise<PartitionRunner> {
  const scope: PartitionScope = { bus: o.bus, nodeId: o.nodeId, partition: o.partition, tracing: o.tracing ?? NO_TRACING, emit: o.onEvent ?? (() => {}) };
  // aborted when the partition stops pulling: messages waiting behind a suspended turn are given back
  const releasing = new AbortController();
  const opened = await Promise.allSettled((["in", "session"] as const).map((stage) => openMailbox(o, scope, stage, releasing.signal)));
  const lanes = opened.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = opened.find((r) => r.status === "rejected");
  if (failed) {
    // one mailbox without the other is no partition: give the one that opened back
    await Promise.all(lanes.map((l) => l.stopPulling()));
    throw failed.reason;
  }
  let stopped = false;
  return {
    partition: o.partition,
    async stopPulling() {
      stopped = true;
      releasing.abort();
      await Promise.all(lanes.map((l) => l.stopPulling()));
    },
    async drained() {
      await Promise.all(lanes.map((l) => l.drained()));
    },
    resync() {
      if (!stopped) for (const l of lanes) l.resync();
    },
  };
}

/** Takes one mailbox over and starts its lane; a takeover from another owner counts as a crash of what it left unacked. */
async function openMailbox(o: PartitionRunnerOptions, scope: PartitionScope, stage: PartitionStage, releasing: AbortSignal): Promise<ConsumerLane> {
  const suspects = await loadCrashSuspects(o.cluster, stage, o.partition);
  const p = o.partition;
  return startConsumerLane({
    bus: o.bus,
    stream: STREAM_OF[stage],
    consumer: partitionConsumerSpec(stage, p, o.consumer),
    policy: mailboxPolicy(o),
    backoff: o.backoff,
    // this lane's own takeovers (after a gap, a reconnect) find only what it left itself
    onTakeover: async (t, first) => {
      if (first && t.leftUnacked) await suspects.record(t.leftUnacked.from, t.leftUnacked.to);
    },
    handle: (m) => handleMail(o, scope, { stage, suspects, releasing }, m),
    onEvent: (e: LaneEvent) => {
      if (e.type === "lane.gap") scope.emit({ type: "delivery.gap", partition: p, stage, expected: e.expected, got: e.got });
      else if (e.type === "lane.failed") scope.emit({ type: "consumer.failed", partition: p, stage, error: e.error });
    },
  });
}

/** Decides what a mailbox message is and settles it. */
async function handleMail(
  o: PartitionRunnerOptions,
  scope: PartitionScope,
  box: { stage: PartitionStage; suspects: CrashSuspects; releasing: AbortSignal },
  m: JsMsg,
): Promise<void> {
  const { stage } = box;
  const inbound = toInboundMessage(m, o.idPrefix[stage]);
  const started = performance.now();
  const pickupMs = Date.now() - inbound.storedAt;
  const startMs = scope.tracing.enabled ? Date.now() : 0;
  const attempts = m.info.deliveryCount + box.suspects.crashes(m.seq);
  const d =
    stage === "in"
      ? decideInbound(inbound, {
          agents: o.agents(),
          defaultAgent: o.defaultAgent?.(),
          partitions: o.partitions,
          partition: o.partition,
          maxPayload: o.maxPayload,
        })
      : decideSessionMail(inbound, o.agents());
  const t: TakenMessage = { m, stage, attempts, log: messageLogFields(m, d, stage, o.partition), pickupMs, startMs };
  if (attempts > o.maxDeliver && (d.kind === "turn" || d.kind === "forward")) {
    // delivered this often without being settled: it probably crashes its node
    await deadLetterUnsettled(scope, t, d);
    return m.ack();
  }
  if (d.kind !== "turn" && d.kind !== "mail") return settleWithoutTurn(scope, t, d);
  if (d.kind === "turn") {
    const ingressMs = performance.now() - started;
    scope.emit({
      type: "message.accepted",
      partition: o.partition,
      stage,
      channel: d.envelope.channel,
      deliveries: m.info.deliveryCount,
      pending: m.info.pending,
      ingressMs,
      ...t.log,
    });
  }
  if (d.kind === "turn" && o.commands) {
    let answered: boolean;
    try {
      answered = await o.commands(d);
    } catch {
      // NATS or KV failed: the command comes again
      m.nak(1_000);
      return;
    }
    if (answered) return m.ack();
  }
  return settleInSession(o, scope, t, d, box.releasing);
}

/** Asks the admission about a turn, keeping its message alive while it waits; a failing admission lets the turn go. */
async function admitTurn(o: PartitionRunnerOptions, t: TakenMessage, d: Extract<IngressDecision, { kind: "turn" }>, releasing: AbortSignal) {
  if (!o.admission) return undefined;
  const keepAlive = setInterval(() => t.m.working(), Math.max(1_000, Math.floor(o.consumer.ackWaitMs / 3)));
  try {
    return await o.admission.admit({ agent: d.agent.id, session: d.session, counted: t.m.headers?.get(H.quotaCounted) === "1", signal: releasing });
  } catch {
    return { kind: "go", release: () => {} } satisfies TurnAdmitted;
  } finally {
    clearInterval(keepAlive);
  }
}

/** Hands a turn or mail to its session and settles the message by how it ended. */
async function settleInSession(
  o: PartitionRunnerOptions,
  scope: PartitionScope,
  t: TakenMessage,
  d: Extract<IngressDecision, { kind: "turn" | "mail" }>,
  releasing: AbortSignal,
): Promise<void> {
  const { m } = t;
  const host = o.host;
  if (d.kind === "mail" && d.mail.type === "tool.deadline" && d.mail.notBefore > Date.now()) {
    // a durable timer: back in the mailbox when it is due (its turn may well be over by then)
    m.nak(d.mail.notBefore - Date.now());
    return;
  }
  const started = performance.now();
  const turnStartMs = scope.tracing.enabled ? Date.now() : 0;
  if (scope.tracing.enabled && d.kind === "turn" && t.stage === "in") traceIngress(scope, d, t.startMs);
  const common = {
    agent: d.agent,
    session: d.session,
    deliveries: t.attempts,
    keepAlive: () => m.working(),
    signal: releasing,
    onFailed: (f: FailedTurn) => deadLetterFailedTurn(scope, t, f),
  };
  const admitted = d.kind === "turn" ? await admitTurn(o, t, d, releasing) : undefined;
  if (admitted?.kind === "released") return m.nak();
  if (d.kind === "turn" && admitted?.kind === "refused") {
    // refused for good (a quota): dead-lettered, so it can be replayed, and its sender told why and when to come back
    const failure = { turnId: d.envelope.id, code: admitted.code, message: admitted.message, transient: false };
    const refused: FailedTurn = { kind: "failed", failure, attempts: t.attempts, firstError: admitted.message, turn: d.envelope };
    await deadLetterFailedTurn(scope, t, refused, admitted.retryAfterS);
    m.ack();
    return reportTurn(scope, t, d, refused, { started, turnStartMs });
  }
  let outcome: TurnOutcome;
  try {
    outcome = d.kind === "turn" ? await host.deliver({ ...common, envelope: d.envelope, log: t.log }) : await host.deliverMail({ ...common, mail: d.mail });
  } finally {
    if (admitted?.kind === "go") admitted.release();
  }
  if (outcome.kind === "released") m.nak();
  else m.ack(); // answered, suspended, dropped (stale mail), or failed and dead-lettered
  if (d.kind === "turn") reportTurn(scope, t, d, outcome, { started, turnStartMs });
}

/** The session hop's span and the `message.settled` fact of a turn. */
function reportTurn(
  scope: PartitionScope,
  t: TakenMessage,
  d: Extract<IngressDecision, { kind: "turn" }>,
  outcome: TurnOutcome,
  at: { started: number; turnStartMs: number },
): void {
  if (scope.tracing.enabled && outcome.kind !== "released" && d.envelope.trace.traceparent) {
    scope.tracing.record({
      name: "claw.session",
      traceparent: turnTraceparent(d.envelope)!,
      parent: d.envelope.trace.traceparent,
      startMs: at.turnStartMs,
      endMs: Date.now(),
      attributes: {
        "claw.agent": d.agent.id,
        "claw.session": d.session,
        "claw.partition": scope.partition,
        "messaging.message.id": d.envelope.id,
        "claw.outcome": outcome.kind,
        "claw.attempts": t.attempts,
      },
      error: outcome.kind === "failed" ? `${outcome.failure.code}: ${outcome.failure.message}` : undefined,
    });
  }
  scope.emit({
    type: "message.settled",
    partition: scope.partition,
    stage: t.stage,
    channel: d.envelope.channel,
    outcome: outcome.kind,
    agent: d.agent.id,
    pickupMs: t.pickupMs,
    sessionMs: performance.now() - at.started,
    timing: outcome.kind === "answered" || outcome.kind === "suspended" ? outcome.timing : undefined,
    endToEndMs: Date.now() - d.envelope.ts,
    ...t.log,
  });
}
