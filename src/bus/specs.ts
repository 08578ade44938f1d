/**
 * The streams, consumers and KV buckets Claw needs, as data. Created
 * idempotently at start by `provision.ts`.
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { ConsumerConfig, StreamConfig } from "@nats-io/jetstream";
import { DEFAULT_PARTITIONS } from "./partition.js";
import {
  channelConsumerName,
  encodeToken,
  kvKeySubject,
  outboundSubject,
  partitionConsumerName,
  skillConsumerName,
  wildcards,
  type ChatAddress,
} from "./subjects.js";

const NS_PER_MS = 1_000_000;
const DAY_MS = 24 * 3600 * 1000;

/** Stream names. */
export const STREAMS = {
  in: "CLAW_IN",
  inRaw: "CLAW_IN_RAW",
  sessions: "CLAW_SESSIONS",
  skills: "CLAW_SKILLS",
  out: "CLAW_OUT",
  dlq: "CLAW_DLQ",
  transcripts: "CLAW_TRANSCRIPTS",
  /** control-plane calls and refused credentials, append-only (no delete, no purge) */
  audit: "CLAW_AUDIT",
  /** webhook deliveries waiting to be made (`claw.webhook.<subscription>`) */
  webhooks: "CLAW_WEBHOOKS",
} as const;

/** KV bucket names. */
export const BUCKETS = {
  sessions: "claw_sessions",
  cluster: "claw_cluster",
  /** member heartbeats; entries expire with the bucket's max age (2.9 has no per-key TTL) */
  members: "claw_members",
  /** the leader lease; expires with the bucket's max age unless renewed */
  lease: "claw_lease",
  registry: "claw_registry",
  /** what channel adapters keep across nodes (a Telegram bot's update offset): `<type>.<account>.<name>` */
  channels: "claw_channels",
  /** API keys (`key.<id>`: a hash of the secret, the scopes, the expiry); nothing else lives here */
  auth: "claw_auth",
  /** webhook subscriptions (`sub.<id>`: the URL, the events, the signing secret) */
  webhooks: "claw_webhooks",
  /** the gateway's rate-limit buckets (`<kind>.<hash of who>`); an idle one ages out after an hour (full again by then) */
  rateLimits: "claw_ratelimit",
  /** schedules (`s.<id>`: the chat, the text, when, and the last occurrence fired) */
  schedules: "claw_schedules",
  /** agents' long-term memory (`m.<agent>.<scope hash>`: one scope's memories, src/memory) */
  memory: "claw_memory",
  /** usage per UTC day, tenant and agent (`a.<day>.<tenant>.<agent>`, `t.<day>.<tenant>`: src/tenants/usage.ts); kept 400 days */
  usage: "claw_usage",
  /** tool calls waiting for a human's decision (`a.<id>`: the call, its session, its decision; `c.<hash>`: the id of a call's approval) */
  approvals: "claw_approvals",
} as const;

/** How long an approval is kept after its last change: its longest timeout (`approvalTimeoutMs`) and then some. */
export const APPROVAL_RETENTION_MS = 8 * 24 * 3_600_000;

/** The stream under KV `claw_approvals`, and its approvals' subjects: the source of the `approval.requested` webhook event. */
export const APPROVALS_SOURCE = { stream: `KV_${BUCKETS.approvals}`, filter: kvKeySubject(BUCKETS.approvals, "a.>") } as const;

/** Object stores: the files of registered skills, under `<id>@<version>/<path>`. */
export const OBJECT_STORES = { skillFiles: "claw_skill_files", media: "claw_media" } as const;

/** Knobs that shape the specs. */
export interface SpecOptions {
  /** stream and bucket replicas (1 on a single server, 3 on a cluster) */
  replicas: number;
  /** the cluster's partition count: `CLAW_IN` and `CLAW_SESSIONS` store exactly these partitions' subjects */
  partitions: number;
  /** JetStream duplicate window: a republished `Nats-Msg-Id` inside it is dropped */
  duplicateWindowMs: number;
  /** how long a message waits unread in a work queue (`CLAW_IN`, `CLAW_SESSIONS`, `CLAW_OUT`, `CLAW_WEBHOOKS`, `CLAW_IN_RAW`) */
  workQueueMaxAgeMs: number;
  /** how long dead letters are kept */
  dlqMaxAgeMs: number;
  /** how long transcripts are kept (0 = forever) */
  transcriptMaxAgeMs: number;
  /** how long audit records are kept */
  auditMaxAgeMs: number;
  /** the byte limit of each of Claw's streams (0 = none); JetStream reserves it in its store */
  streamMaxBytes: number;
  /** a member whose heartbeat is older than this is gone */
  memberTtlMs: number;
  /** a leader lease not renewed for this long is free */
  leaseTtlMs: number;
}

/** How long an invocation may wait on `CLAW_SKILLS`: one nobody ran within a day is long past its deadline. */
const SKILL_MAX_AGE_MS = DAY_MS;

/**
 * Defaults: R1, 64 partitions, a 2 min duplicate window, work queues kept 7
 * days, dead letters and transcripts 30, audit records 90, and 1 GiB at
 * most in each stream.
 */
export function defaultSpecOptions(): SpecOptions {
  return {
    replicas: 1,
    partitions: DEFAULT_PARTITIONS,
    duplicateWindowMs: 120_000,
    workQueueMaxAgeMs: 7 * DAY_MS,
    dlqMaxAgeMs: 30 * DAY_MS,
    transcriptMaxAgeMs: 30 * DAY_MS,
    auditMaxAgeMs: 90 * DAY_MS,
    streamMaxBytes: 1024 * 1024 * 1024,
    memberTtlMs: 3_000,
    leaseTtlMs: 3_000,
  };
}

type StreamSpec = Partial<StreamConfig> & Pick<StreamConfig, "name" | "subjects" | "retention" | "storage">;

function stream(o: SpecOptions, name: string, subjects: string[], retention: RetentionPolicy, maxAgeMs: number): StreamSpec {
  return {
    name,
    subjects,
    retention,
    storage: StorageType.File,
    num_replicas: o.replicas,
    duplicate_window: o.duplicateWindowMs * NS_PER_MS,
    max_age: maxAgeMs * NS_PER_MS,
    max_bytes: o.streamMaxBytes > 0 ? o.streamMaxBytes : -1,
    // a full work queue refuses new messages instead of dropping accepted ones; a full log drops its oldest
    discard: retention === RetentionPolicy.Workqueue ? DiscardPolicy.New : DiscardPolicy.Old,
  };
}

/**
 * The data-path streams (the raw-inbound router stream is separate: only
 * created in fallback mode). Each stores only subjects a consumer reads, and
 * each has an age and a byte limit.
 */
export function streamSpecs(o: SpecOptions): StreamSpec[] {
  const wq = o.workQueueMaxAgeMs;
  return [
    stream(o, STREAMS.in, wildcards.inboundPartitions(o.partitions), RetentionPolicy.Workqueue, wq),
    stream(o, STREAMS.sessions, wildcards.sessionPartitions(o.partitions), RetentionPolicy.Workqueue, wq),
    stream(o, STREAMS.skills, [wildcards.skills], RetentionPolicy.Workqueue, Math.min(wq, SKILL_MAX_AGE_MS)),
    stream(o, STREAMS.out, [wildcards.outbound], RetentionPolicy.Workqueue, wq),
    stream(o, STREAMS.dlq, [wildcards.dlq], RetentionPolicy.Limits, o.dlqMaxAgeMs),
    stream(o, STREAMS.transcripts, [wildcards.transcripts], RetentionPolicy.Limits, o.transcriptMaxAgeMs),
    // append-only: a record cannot be deleted or the stream purged through the API (it ages out)
    { ...stream(o, STREAMS.audit, [wildcards.audit], RetentionPolicy.Limits, o.auditMaxAgeMs), deny_delete: true, deny_purge: true },
    stream(o, STREAMS.webhooks, [wildcards.webhookDeliveries], RetentionPolicy.Workqueue, wq),
  ];
}

/** The stream the fallback router reads when the server does not partition inbound subjects. */
export function rawInboundStreamSpec(o: SpecOptions): StreamSpec {
  return stream(o, STREAMS.inRaw, [wildcards.rawInbound], RetentionPolicy.Workqueue, o.workQueueMaxAgeMs);
}

/** Consumer knobs. */
export interface ConsumerOptions {
  /** ms before an unacked message is redelivered */
  ackWaitMs: number;
  /** bound on unacked messages per consumer: JetStream's backpressure */
  maxAckPending: number;
}

/** Defaults: 30 s ack wait, 256 in flight per partition. */
export function defaultConsumerOptions(): ConsumerOptions {
  return { ackWaitMs: 30_000, maxAckPending: 256 };
}

/**
 * The durable pull consumer of one partition of a stage. `max_deliver` is
 * unbounded on the server: Claw counts deliveries itself and dead-letters the
 * message (the server's own limit would leave it stranded in the work queue).
 */
export function partitionConsumerSpec(stage: "in" | "session", p: number, o: ConsumerOptions): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: partitionConsumerName(stage, p),
    filter_subject: stage === "in" ? wildcards.inboundPartition(p) : wildcards.sessionPartition(p),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: o.ackWaitMs * NS_PER_MS,
    max_ack_pending: o.maxAckPending,
    max_deliver: -1,
  };
}

/** The router's consumer on `CLAW_IN_RAW`: one at a time so order holds. */
export function routerConsumerSpec(o: ConsumerOptions): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: "router",
    filter_subject: wildcards.rawInbound,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: o.ackWaitMs * NS_PER_MS,
    max_ack_pending: 1024,
    max_deliver: -1,
  };
}

/**
 * The worker pool's consumer of one skill's invocations on `CLAW_SKILLS`:
 * every node that hosts the skill pulls from it, so each invocation runs
 * once, wherever a worker is free.
 */
export function skillConsumerSpec(skill: string, o: ConsumerOptions): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: skillConsumerName(skill),
    filter_subject: wildcards.skillInvocations(skill),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: o.ackWaitMs * NS_PER_MS,
    max_ack_pending: o.maxAckPending,
    max_deliver: -1,
  };
}

/**
 * The consumer of one channel account's replies on `CLAW_OUT`, pulled by
 * the node running the account; a reply is acked once sent natively.
 */
export function channelConsumerSpec(channel: string, account: string, o: ConsumerOptions): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: channelConsumerName(channel, account),
    filter_subject: wildcards.outboundAccount(channel, account),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: o.ackWaitMs * NS_PER_MS,
    max_ack_pending: o.maxAckPending,
    max_deliver: -1,
  };
}

/**
 * The consumer of one web chat session's replies on `CLAW_OUT`
 * (`ws-<account>-<session>`), read by the node holding its WebSocket: a reply
 * written and not acked comes again after 10 s (to this connection or the
 * next). The server removes it `idleMs` after its last connection went away;
 * its replies stay in the stream (a work queue keeps what nobody acked), and
 * the next connection's consumer delivers them.
 */
export function webSessionConsumerSpec(a: ChatAddress, idleMs: number = DEFAULT_WS_CONSUMER_IDLE_MS): Partial<ConsumerConfig> & { durable_name: string } {
  return replyReaderSpec(`ws-${encodeToken(a.account)}-${encodeToken(a.chat)}`, outboundSubject(a), idleMs);
}

/**
 * A reader of replies on `CLAW_OUT` outside the node (a web chat, a gRPC stream):
 * acked as written, again after 10 s if not, gone `idleMs` after its reader.
 */
function replyReaderSpec(durable: string, filter: string, idleMs: number): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: durable,
    filter_subject: filter,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 10_000 * NS_PER_MS,
    max_ack_pending: 256,
    max_deliver: -1,
    inactive_threshold: idleMs * NS_PER_MS,
  };
}

/**
 * A gRPC `Replies` stream's consumer on `CLAW_OUT` (`durable`, named for the
 * caller, its consumer name and what it reads): one chat's replies, or with
 * no chat every chat of the account. A reply written to the stream is acked;
 * one not acked comes again after 10 s. The server removes it `idleMs`
 * after its last stream went away; its replies wait in the stream for the next.
 */
export function grpcRepliesConsumerSpec(
  durable: string,
  a: Omit<ChatAddress, "chat"> & { chat?: string },
  idleMs: number = DEFAULT_WS_CONSUMER_IDLE_MS,
): Partial<ConsumerConfig> & { durable_name: string } {
  return replyReaderSpec(durable, a.chat === undefined ? wildcards.outboundAccount(a.channel, a.account) : outboundSubject({ ...a, chat: a.chat }), idleMs);
}

/** How long a web chat session's consumer outlives its last connection by default (`CLAW_WS_CONSUMER_IDLE_MS`). */
export const DEFAULT_WS_CONSUMER_IDLE_MS = 30_000;

/** KV bucket specs. */
export function bucketSpecs(o: SpecOptions): Array<{ name: string; history: number; replicas: number; ttl?: number }> {
  return [
    { name: BUCKETS.sessions, history: 1, replicas: o.replicas },
    // history: the test of "never two owners at once" reads claim changes back
    { name: BUCKETS.cluster, history: 16, replicas: o.replicas },
    { name: BUCKETS.members, history: 1, replicas: o.replicas, ttl: o.memberTtlMs },
    { name: BUCKETS.lease, history: 1, replicas: o.replicas, ttl: o.leaseTtlMs },
    { name: BUCKETS.registry, history: 5, replicas: o.replicas },
    { name: BUCKETS.channels, history: 1, replicas: o.replicas },
    { name: BUCKETS.auth, history: 1, replicas: o.replicas },
    { name: BUCKETS.webhooks, history: 1, replicas: o.replicas },
    { name: BUCKETS.rateLimits, history: 1, replicas: o.replicas, ttl: 3_600_000 },
    { name: BUCKETS.schedules, history: 1, replicas: o.replicas },
    { name: BUCKETS.memory, history: 1, replicas: o.replicas },
    { name: BUCKETS.usage, history: 1, replicas: o.replicas, ttl: 400 * 86_400_000 },
    // an approval is kept a while after its decision (a second decision is refused, not mistaken for a new one);
    // its request stays in the bucket's stream beside its decision, for the webhooks' fan-out to read
    { name: BUCKETS.approvals, history: 4, replicas: o.replicas, ttl: APPROVAL_RETENTION_MS },
  ];
}

/** How far before the earliest subscription a fan-out starts reading: the nodes' and the servers' clocks differ a little. */
const WEBHOOK_START_MARGIN_MS = 10_000;

/**
 * A webhook fan-out's consumer of a source stream (`CLAW_TRANSCRIPTS` for
 * replies, `CLAW_DLQ` for dead letters), shared by every node. Made when the
 * first subscription is seen, it starts at that subscription's creation
 * (`sinceMs`, less a margin for clocks): what happened between the
 * subscription's `POST` and a node reading it back is not missed. Each
 * subscription still gets only what happened after it was made (the
 * fan-out's filter).
 */
export function webhookSourceConsumerSpec(
  name: string,
  o: ConsumerOptions,
  sinceMs: number,
  filter?: string,
): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: name,
    ...(filter ? { filter_subject: filter } : {}),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(sinceMs - WEBHOOK_START_MARGIN_MS).toISOString(),
    ack_wait: o.ackWaitMs * NS_PER_MS,
    max_ack_pending: o.maxAckPending,
    max_deliver: -1,
  };
}

/** The deliveries' consumer on `CLAW_WEBHOOKS`, shared by every node; Claw counts attempts itself. */
export function webhookDeliveryConsumerSpec(o: ConsumerOptions): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: "webhook-deliveries",
    filter_subject: wildcards.webhookDeliveries,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: o.ackWaitMs * NS_PER_MS,
    max_ack_pending: o.maxAckPending,
    max_deliver: -1,
  };
}
