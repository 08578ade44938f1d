/**
 * Reading the cluster's state from KV, for cluster tests.
 */
import { Kvm, type KV } from "@nats-io/kv";
import type { JetStreamClient } from "@nats-io/jetstream";
import { BUCKETS } from "../../src/bus/index.js";
import type { Assignment } from "../../src/supervisors/assignment.js";
import { readAssignment } from "../../src/supervisors/cluster-leader.js";
import { currentLeader } from "../../src/supervisors/leader-lease.js";
import { claimKey, type Claim } from "../../src/supervisors/partition-claims.js";

/** Cluster state readers. */
export interface ClusterView {
  assignment(): Promise<Assignment | undefined>;
  leader(): Promise<string | undefined>;
  /** holder of each partition's claim (undefined = free) */
  claims(partitions: number): Promise<Array<string | undefined>>;
  /** waits until every partition is claimed by its assigned owner and the assignment covers `members` */
  settled(members: string[], partitions: number, timeoutMs?: number): Promise<Assignment>;
  cluster: KV;
}

/** Opens the cluster buckets through a test client. */
export async function clusterView(js: JetStreamClient): Promise<ClusterView> {
  const kvm = new Kvm(js);
  const cluster = await kvm.open(BUCKETS.cluster);
  const lease = await kvm.open(BUCKETS.lease);
  const view: ClusterView = {
    cluster,
    assignment: async () => (await readAssignment(cluster)).assignment,
    leader: () => currentLeader(lease),
    async claims(partitions) {
      return Promise.all(
        Array.from({ length: partitions }, async (_, p) => {
          const e = await cluster.get(claimKey(p));
          return e && e.operation === "PUT" ? e.json<Claim>().node : undefined;
        }),
      );
    },
    async settled(members, partitions, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      const want = [...members].sort().join(",");
      for (;;) {
        const a = await view.assignment();
        if (a && a.members.join(",") === want) {
          const claims = await view.claims(partitions);
          if (claims.every((c, p) => c === a.owners[p])) return a;
        }
        if (Date.now() > deadline) throw new Error(`cluster did not settle on ${want} within ${timeoutMs} ms (assignment: ${JSON.stringify(a?.members)})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
  return view;
}
