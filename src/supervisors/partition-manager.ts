/**
 * The partitions a node owns: it watches the assignment, releases partitions
 * it lost (stop pulling, finish in-flight work, drop the claim) and acquires
 * those it gained, each through a partition owner actor
 * (partition-owner.machine.ts). A partition is run only under a claim
 * `claim.<p>` in KV `claw_cluster`, taken when free or when its holder is no
 * longer a member, so no partition is ever run by two live nodes at once.
 */
import type { KV } from "@nats-io/kv";
import { createActor, fromPromise, waitFor, type Actor } from "xstate";
import type { PartitionRunner } from "../actors/index.js";
import { withRetry } from "../bus/index.js";
import type { Assignment } from "./assignment.js";
import { ASSIGNMENT_KEY } from "./cluster-leader.js";
import type { Liveness } from "./membership.js";
import type { ChildSpec } from "./supervisor.js";
import { partitionOwnerMachine } from "./partition-owner.machine.js";

/** A partition claim as stored. */
export interface Claim {
  node: string;
  epoch: number;
  ts: number;
}

/** Facts for logs and metrics. */
export type PartitionManagerEvent =
  | { type: "assignment.applied"; epoch: number; owned: number; gained: number[]; lost: number[] }
  | { type: "partition.acquired"; partition: number; tookFrom?: string; waitedMs: number }
  | { type: "partition.released"; partition: number };

/** Options of {@link partitionManager}. */
export interface PartitionManagerOptions {
  cluster: KV;
  /** whether a claim's holder is still alive (heartbeat, and presence on the bus) */
  liveness: Pick<Liveness, "isAlive">;
  node: string;
  start(p: number): Promise<PartitionRunner>;
  /** XState inspection of each partition owner (live events) */
  inspection?: { register(kind: "partition", id: string, actor: Actor<typeof partitionOwnerMachine>): void; forget(kind: "partition", id: string): void };
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

export const claimKey = (p: number) => `claim.${p}`;

/** Creates the manager; its `child` runs under the node supervisor. */
export function partitionManager(o: PartitionManagerOptions): PartitionManager {
  const running = new Map<number, PartitionRunner>();
  const owners = new Map<number, Actor<typeof ownerMachine>>();
  let desired = new Set<number>();
  let epoch = 0;
  let member = false;
  let stopped = false;
  let chain: Promise<void> = Promise.resolve();
  let markJoined!: () => void;
  const joined = new Promise<void>((r) => (markJoined = r));
  const emit = o.onEvent ?? (() => {});

  async function acquire(p: number, forEpoch: number, signal: AbortSignal): Promise<boolean> {
    const t0 = Date.now();
    const claim = JSON.stringify({ node: o.node, epoch: forEpoch, ts: Date.now() } satisfies Claim);
    while (!stopped && !signal.aborted && desired.has(p)) {
      const e = await withRetry(() => o.cluster.get(claimKey(p)));
      const holder = e && e.operation === "PUT" ? e.json<Claim>().node : undefined;
      try {
        if (!e) await o.cluster.create(claimKey(p), claim);
        else if (holder === undefined || holder === o.node) await o.cluster.update(claimKey(p), claim, e.revision);
        else if (!(await o.liveness.isAlive(holder))) await o.cluster.update(claimKey(p), claim, e.revision);
        else {
          // the previous owner is alive and still draining: wait for it to let go
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        emit({ type: "partition.acquired", partition: p, tookFrom: holder && holder !== o.node ? holder : undefined, waitedMs: Date.now() - t0 });
        return true;
      } catch {
        // someone wrote the claim between our read and write: read again
      }
    }
    return false;
  }

  /** Stops pulling, finishes in-flight work, drops the claim if it is ours. */
  async function drain(p: number): Promise<void> {
    const r = running.get(p);
    if (r) {
      await r.stopPulling();
      await r.drained();
      running.delete(p);
    }
    const e = await o.cluster.get(claimKey(p)).catch(() => null);
    if (e && e.operation === "PUT" && e.json<Claim>().node === o.node) {
      await o.cluster.delete(claimKey(p), { previousSeq: e.revision }).catch(() => undefined);
    }
    if (r) emit({ type: "partition.released", partition: p });
  }

  const ownerMachine = partitionOwnerMachine.provide({
    actors: {
      claim: fromPromise(({ input, signal }) => acquire(input.partition, input.epoch, signal)),
      start: fromPromise(async ({ input }) => {
        running.set(input.partition, await o.start(input.partition));
      }),
      drain: fromPromise(({ input }) => drain(input.partition)),
    },
  });

  /** Claims and starts a partition; resolves when it runs or was given up. */
  async function gain(p: number, forEpoch: number): Promise<void> {
    const owner = createActor(ownerMachine, { input: { partition: p, node: o.node, epoch: forEpoch } });
    o.inspection?.register("partition", String(p), owner);
    owners.set(p, owner);
    owner.start();
    const s = await waitFor(owner, (x) => x.matches("running") || x.status === "done", { timeout: Infinity });
    if (s.status === "done") await settle(p, owner);
  }

  /** Gives a partition up; resolves when it is drained and its claim dropped. */
  async function release(p: number): Promise<void> {
    const owner = owners.get(p);
    if (!owner) return;
    owner.send({ type: "release" });
    await settle(p, owner);
  }

  async function settle(p: number, owner: Actor<typeof ownerMachine>): Promise<void> {
    const s = await waitFor(owner, (x) => x.status === "done", { timeout: Infinity });
    if (owners.get(p) === owner) owners.delete(p);
    o.inspection?.forget("partition", String(p));
    owner.stop();
    // a runner that could not start fails the manager: its supervisor restarts it
    if (s.matches("failed")) throw new Error(`partition ${p}: ${s.context.error}`);
  }

  async function apply(a: Assignment): Promise<void> {
    if (a.epoch <= epoch) return;
    desired = new Set(a.owners.flatMap((owner, p) => (owner === o.node ? [p] : [])));
    const lost = [...owners.keys()].filter((p) => !desired.has(p));
    const gained = [...desired].filter((p) => !owners.has(p));
    await Promise.all(lost.map(release));
    await Promise.all(gained.map((p) => gain(p, a.epoch)));
    epoch = a.epoch;
    member = a.members.includes(o.node);
    emit({ type: "assignment.applied", epoch: a.epoch, owned: running.size, gained, lost });
    if (a.members.includes(o.node)) markJoined();
  }

  return {
    joined,
    owned: () => [...running.keys()].sort((a, b) => a - b),
    epoch: () => epoch,
    assigned: () => member && !stopped,
    resync() {
      for (const r of running.values()) r.resync();
    },
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
      await Promise.all([...owners.keys()].map((p) => release(p).catch(() => undefined)));
    },
  };
}
