/**
 * What the leader does: keep the partition assignment in step with the live
 * members, writing it with an increasing epoch and the expected revision (so a
 * deposed leader's late write is refused).
 */
import type { KV } from "@nats-io/kv";
import { rendezvousAssign, type Assignment } from "./assignment.js";
import type { Liveness } from "./membership.js";

/** Key of the assignment in KV `claw_cluster`. */
export const ASSIGNMENT_KEY = "assignment";

/** Reads the current assignment and its revision. */
export async function readAssignment(cluster: KV): Promise<{ assignment?: Assignment; revision: number }> {
  const e = await cluster.get(ASSIGNMENT_KEY);
  if (!e || e.operation !== "PUT") return { revision: e?.revision ?? 0 };
  return { assignment: e.json<Assignment>(), revision: e.revision };
}

/**
 * Recomputes the assignment when the live members changed. Returns the new
 * assignment when one was written.
 */
export async function reconcileAssignment(cluster: KV, liveness: Liveness, partitions: number, leader: string): Promise<Assignment | undefined> {
  const live = [...(await liveness.members()).keys()].sort();
  // if even the leader's own heartbeat is missing, the members bucket was unavailable long
  // enough for entries to expire (a NATS outage or election), which says nothing about who
  // died: wait for the heartbeats to come back instead of moving every partition
  if (!live.includes(leader)) return undefined;
  const { assignment, revision } = await readAssignment(cluster);
  if (assignment && assignment.owners.length === partitions && assignment.members.join(",") === live.join(",")) return undefined;
  const next: Assignment = {
    epoch: (assignment?.epoch ?? 0) + 1,
    owners: rendezvousAssign(partitions, live),
    members: live,
    leader,
    ts: Date.now(),
  };
  const data = JSON.stringify(next);
  await (revision === 0 ? cluster.create(ASSIGNMENT_KEY, data) : cluster.update(ASSIGNMENT_KEY, data, revision));
  return next;
}
