/**
 * A snapshot of the cluster for operators (`claw cluster`, `claw status`):
 * members, leader, assignment, the backlog of every partition, and the dead
 * letters waiting in `CLAW_DLQ`.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream";
import type { Kvm } from "@nats-io/kv";
import { BUCKETS, parseDlqSubject, partitionConsumerName, STREAMS, wildcards } from "../bus/index.js";
import { readAssignment } from "./cluster-leader.js";
import { currentLeader } from "./leader-lease.js";
import { liveMembers, type MemberInfo } from "./membership.js";
import { NoClusterError } from "./errors.js";

/** One partition's owner and backlog. */
export interface PartitionStatus {
  partition: number;
  owner?: string;
  /** inbound messages not yet delivered */
  pending: number;
  /** delivered and not yet acked (in progress) */
  inFlight: number;
}

/** One partition mailbox's backlog, as its consumer reports it. */
export interface LaneBacklog {
  partition: number;
  /** `CLAW_IN` or `CLAW_SESSIONS` */
  stream: string;
  /** not yet delivered */
  pending: number;
  /** delivered and not yet acked */
  inFlight: number;
}

/** Asks the server for the backlog of the partitions' two mailboxes; a consumer that does not answer is left out. */
export async function partitionBacklog(jsm: JetStreamManager, partitions: readonly number[]): Promise<LaneBacklog[]> {
  const lanes = partitions.flatMap((p) => [
    { partition: p, stream: STREAMS.in, consumer: partitionConsumerName("in", p) },
    { partition: p, stream: STREAMS.sessions, consumer: partitionConsumerName("session", p) },
  ]);
  const infos = await Promise.all(lanes.map((l) => jsm.consumers.info(l.stream, l.consumer).catch(() => undefined)));
  return lanes.flatMap((l, i) => {
    const info = infos[i];
    return info ? [{ partition: l.partition, stream: l.stream, pending: info.num_pending, inFlight: info.num_ack_pending }] : [];
  });
}

/**
 * Reads the backlog of a node's partition mailboxes (not yet delivered + in
 * flight) for the scrape-time metric, at most once per second however often
 * it is scraped, and answers with the last reading (or nothing) when the
 * server is slow to say.
 */
export function consumerBacklogReader(jsm: JetStreamManager): {
  read(partitions: number[]): Promise<Array<{ stream: string; partition: number; waiting: number }>>;
} {
  type Reading = Array<{ stream: string; partition: number; waiting: number }>;
  let last: { at: number; value: Reading } = { at: 0, value: [] };
  let reading: Promise<Reading> | undefined;
  const readNow = async (partitions: number[]) =>
    (await partitionBacklog(jsm, partitions)).map((l) => ({ stream: l.stream, partition: l.partition, waiting: l.pending + l.inFlight }));
  return {
    async read(partitions) {
      if (Date.now() - last.at < 1_000) return last.value;
      reading ??= readNow(partitions)
        .then((value) => (last = { at: Date.now(), value }).value)
        .finally(() => (reading = undefined));
      const timeout = new Promise<Reading>((r) => setTimeout(() => r(last.value), 2_000).unref());
      return Promise.race([reading, timeout]);
    },
  };
}

/** Dead letters waiting in `CLAW_DLQ`, in all and per stage (`claw.dlq.<stage>`). */
export interface DeadLetterCounts {
  total: number;
  byStage: Record<string, number>;
}

/** The cluster at one moment. */
export interface ClusterStatus {
  leader?: string;
  epoch: number;
  members: MemberInfo[];
  partitions: PartitionStatus[];
  dlq: DeadLetterCounts;
}

/** One owner's share of the partitions: how many, and their backlog. */
export interface OwnerBacklog {
  owned: number;
  pending: number;
  inFlight: number;
}

/** Partition count and backlog per owner (members that own nothing are absent). */
export function backlogByOwner(partitions: readonly PartitionStatus[]): Map<string, OwnerBacklog> {
  const out = new Map<string, OwnerBacklog>();
  for (const p of partitions) {
    if (p.owner === undefined) continue;
    const b = out.get(p.owner) ?? { owned: 0, pending: 0, inFlight: 0 };
    b.owned++;
    b.pending += p.pending;
    b.inFlight += p.inFlight;
    out.set(p.owner, b);
  }
  return out;
}

/** Counts the dead letters per stage; zero when `CLAW_DLQ` does not exist yet. */
export async function deadLetterCounts(jsm: JetStreamManager): Promise<DeadLetterCounts> {
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(STREAMS.dlq, { subjects_filter: wildcards.dlq });
  } catch (e) {
    // no node has provisioned the streams yet: nothing dead-lettered
    if (!isStreamNotFound(e)) throw e;
  }
  const byStage: Record<string, number> = {};
  for (const [subject, n] of Object.entries(info?.state.subjects ?? {})) {
    const stage = parseDlqSubject(subject);
    if (stage !== undefined) byStage[stage] = n;
  }
  return { total: info?.state.messages ?? 0, byStage };
}

const isStreamNotFound = (e: unknown) => e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound;

/** Reads the cluster's status. Throws {@link NoClusterError} when no node has ever started against this NATS. */
export async function clusterStatus(jsm: JetStreamManager, kvm: Kvm): Promise<ClusterStatus> {
  const [cluster, members, lease] = await Promise.all([kvm.open(BUCKETS.cluster), kvm.open(BUCKETS.members), kvm.open(BUCKETS.lease)]);
  // opening binds without a round trip: ask once whether the cluster exists, for an error that says so
  await cluster.status().catch((e: unknown) => {
    throw isStreamNotFound(e) ? new NoClusterError(BUCKETS.cluster, { cause: e }) : e;
  });
  const [{ assignment }, live, leader, dlq] = await Promise.all([
    readAssignment(cluster),
    liveMembers(members, jsm),
    currentLeader(lease),
    deadLetterCounts(jsm),
  ]);
  const count = assignment?.owners.length ?? 0;
  const partitions: PartitionStatus[] = Array.from({ length: count }, (_, p) => ({ partition: p, owner: assignment?.owners[p], pending: 0, inFlight: 0 }));
  for (const lane of await partitionBacklog(
    jsm,
    partitions.map((x) => x.partition),
  )) {
    partitions[lane.partition]!.pending += lane.pending;
    partitions[lane.partition]!.inFlight += lane.inFlight;
  }
  return { leader, epoch: assignment?.epoch ?? 0, members: [...live.values()].sort((a, b) => a.node.localeCompare(b.node)), partitions, dlq };
}
