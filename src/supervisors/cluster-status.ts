/**
 * A snapshot of the cluster for operators (`claw cluster`): members, leader,
 * assignment, and the backlog of every partition.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Kvm } from "@nats-io/kv";
import { BUCKETS, partitionConsumerName, STREAMS } from "../bus/index.js";
import { readAssignment } from "./cluster-leader.js";
import { currentLeader } from "./leader-lease.js";
import { liveMembers, type MemberInfo } from "./membership.js";

/** One partition's owner and backlog. */
export interface PartitionStatus {
  partition: number;
  owner?: string;
  /** inbound messages not yet delivered */
  pending: number;
  /** delivered and not yet acked (in progress) */
  inFlight: number;
}

/** The cluster at one moment. */
export interface ClusterStatus {
  leader?: string;
  epoch: number;
  members: MemberInfo[];
  partitions: PartitionStatus[];
}

/** Reads the cluster's status. */
export async function clusterStatus(jsm: JetStreamManager, kvm: Kvm): Promise<ClusterStatus> {
  const [cluster, members, lease] = await Promise.all([kvm.open(BUCKETS.cluster), kvm.open(BUCKETS.members), kvm.open(BUCKETS.lease)]);
  const [{ assignment }, live, leader] = await Promise.all([readAssignment(cluster), liveMembers(members), currentLeader(lease)]);
  const count = assignment?.owners.length ?? 0;
  const partitions = await Promise.all(
    Array.from({ length: count }, async (_, p) => {
      const [inb, mail] = await Promise.all(
        [
          [STREAMS.in, partitionConsumerName("in", p)],
          [STREAMS.sessions, partitionConsumerName("session", p)],
        ].map(([s, c]) => jsm.consumers.info(s!, c!).catch(() => undefined)),
      );
      return {
        partition: p,
        owner: assignment?.owners[p],
        pending: (inb?.num_pending ?? 0) + (mail?.num_pending ?? 0),
        inFlight: (inb?.num_ack_pending ?? 0) + (mail?.num_ack_pending ?? 0),
      };
    }),
  );
  return { leader, epoch: assignment?.epoch ?? 0, members: [...live.values()].sort((a, b) => a.node.localeCompare(b.node)), partitions };
}
