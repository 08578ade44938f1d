/**
 * The partitions a node owns: it follows the assignment, releasing the
 * partitions it lost (stop pulling, finish in-flight work, drop the claim)
 * and acquiring those it gained, each through its partition owner
 * (partition-owners.ts). A partition is run only under its claim
 * (partition-claims.ts), so no partition is ever run by two live nodes at once.
 */
import type { KV } from "@nats-io/kv";
import type { PartitionRunner } from "../actors/index.js";
import type { Assignment } from "./assignment.js";
import { ASSIGNMENT_KEY } from "./cluster-leader.js";
import type { Liveness } from "./membership.js";
import type { ChildSpec } from "./supervisor.js";
import { partitionClaims } from "./partition-claims.js";
import { partitionOwners, type PartitionHandOverEvent, type PartitionOwnersOptions } from "./partition-owners.js";

/** Facts for logs and metrics. */
export type PartitionManagerEvent = { type: "assignment.applied"; epoch: number; owned: number; gained: number[]; lost: number[] } | PartitionHandOverEvent;

/** Options of {@link partitionManager}. */
export interface PartitionManagerOptions {
  cluster: KV;
  /** whether a claim's holder is still alive (heartbeat, and presence on the bus) */
  liveness: Pick<Liveness, "isAlive">;
  node: string;
  start(p: number): Promise<PartitionRunner>;
  /** XState inspection of each partition owner (live events) */
  inspection?: PartitionOwnersOptions["inspection"];
  onEvent?: (e: PartitionManagerEvent) => void;
}

/** The partition manager of a node. */
export interface PartitionManager {
  child: ChildSpec;
  /** partitions running here */
  owned(): number[];
  /** epoch of the last applied assignment (0 before the first) */
  epoch(): number;
  /** resolves when an assignment that includes this node has been applied */
  joined: Promise<void>;
  /** true while the last applied assignment includes this node */
  assigned(): boolean;
  /** every running partition takes its mailboxes over again (after a lost connection) */
  resync(): void;
  /** give every partition up (graceful stop) */
  releaseAll(): Promise<void>;
}

/** Creates the manager; its `child` follows the assignment once it runs under the node supervisor. */
export function partitionManager(o: PartitionManagerOptions): PartitionManager {
  let desired = new Set<number>();
  let epoch = 0;
  let member = false;
  let stopped = false;
  let chain: Promise<void> = Promise.resolve();
  let markJoined!: () => void;
  const joined = new Promise<void>((r) => (markJoined = r));
  const emit = o.onEvent ?? (() => {});
  const owners = partitionOwners({
    claims: partitionClaims(o),
    node: o.node,
    start: o.start,
    wanted: (p) => !stopped && desired.has(p),
    inspection: o.inspection,
    onEvent: emit,
  });

  async function apply(a: Assignment): Promise<void> {
    if (a.epoch <= epoch) return;
    desired = new Set(a.owners.flatMap((owner, p) => (owner === o.node ? [p] : [])));
    const held = new Set(owners.held());
    const lost = [...held].filter((p) => !desired.has(p));
    const gained = [...desired].filter((p) => !held.has(p));
    await Promise.all(lost.map(owners.release));
    await Promise.all(gained.map((p) => owners.gain(p, a.epoch)));
    epoch = a.epoch;
    member = a.members.includes(o.node);
    emit({ type: "assignment.applied", epoch: a.epoch, owned: owners.running().length, gained, lost });
    if (a.members.includes(o.node)) markJoined();
  }

  return {
    joined,
    owned: owners.running,
    epoch: () => epoch,
    assigned: () => member && !stopped,
    resync: owners.resync,
    child: {
      name: "partitions",
      async run(signal) {
        const watch = await o.cluster.watch({ key: ASSIGNMENT_KEY });
        signal.addEventListener("abort", () => watch.stop(), { once: true });
        for await (const e of watch) {
          if (signal.aborted) break;
          if (e.operation !== "PUT") continue;
          const a = e.json<Assignment>();
          // applied one after another: a newer assignment waits for the previous hand-over
          chain = chain.catch(() => undefined).then(() => apply(a));
          await chain;
        }
      },
    },
    async releaseAll() {
      stopped = true;
      desired = new Set();
      await chain.catch(() => undefined);
      await Promise.all(owners.held().map((p) => owners.release(p).catch(() => undefined)));
    },
  };
}
