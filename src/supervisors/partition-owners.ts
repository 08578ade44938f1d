/**
 * The partition owners of a node: one partition owner actor
 * (partition-owner.machine.ts) per partition it runs or is taking over.
 * Gaining a partition claims it and starts its runner; releasing it stops
 * pulling, finishes the work in flight and drops the claim.
 */
import { createActor, fromPromise, waitFor, type Actor } from "xstate";
import type { PartitionRunner } from "../actors/index.js";
import type { PartitionClaims } from "./partition-claims.js";
import { partitionOwnerMachine } from "./partition-owner.machine.js";

/** A partition changing hands on this node. */
export type PartitionHandOverEvent =
  { type: "partition.acquired"; partition: number; tookFrom?: string; waitedMs: number } | { type: "partition.released"; partition: number };

/** Options of {@link partitionOwners}. */
export interface PartitionOwnersOptions {
  claims: PartitionClaims;
  node: string;
  start(p: number): Promise<PartitionRunner>;
  /** whether `p` is still to run here (a claim is waited for only while it is) */
  wanted(p: number): boolean;
  /** XState inspection of each partition owner (live events) */
  inspection?: { register(kind: "partition", id: string, actor: Actor<typeof partitionOwnerMachine>): void; forget(kind: "partition", id: string): void };
  onEvent(e: PartitionHandOverEvent): void;
}

/** The owners of a node's partitions. */
export interface PartitionOwners {
  /** claims and starts `p`; resolves when it runs or was given up (rejects when its runner could not start) */
  gain(p: number, epoch: number): Promise<void>;
  /** gives `p` up; resolves when it is drained and its claim dropped */
  release(p: number): Promise<void>;
  /** partitions with an owner: running, or being claimed, started or drained */
  held(): number[];
  /** partitions whose runner runs, in order */
  running(): number[];
  /** every running partition takes its mailboxes over again (after a lost connection) */
  resync(): void;
}

/** No owners yet: each starts with {@link PartitionOwners.gain}. */
export function partitionOwners(o: PartitionOwnersOptions): PartitionOwners {
  const running = new Map<number, PartitionRunner>();
  const owners = new Map<number, Actor<typeof ownerMachine>>();

  async function claim(p: number, epoch: number, signal: AbortSignal): Promise<boolean> {
    const t0 = Date.now();
    const taken = await o.claims.take(p, epoch, () => !signal.aborted && o.wanted(p));
    if (taken) o.onEvent({ type: "partition.acquired", partition: p, tookFrom: taken.tookFrom, waitedMs: Date.now() - t0 });
    return taken !== undefined;
  }

  /** Stops pulling, finishes in-flight work, drops the claim if it is ours. */
  async function drain(p: number): Promise<void> {
    const r = running.get(p);
    if (r) {
      await r.stopPulling();
      await r.drained();
      running.delete(p);
    }
    await o.claims.drop(p);
    if (r) o.onEvent({ type: "partition.released", partition: p });
  }

  const ownerMachine = partitionOwnerMachine.provide({
    actors: {
      claim: fromPromise(({ input, signal }) => claim(input.partition, input.epoch, signal)),
      start: fromPromise(async ({ input }) => {
        running.set(input.partition, await o.start(input.partition));
      }),
      drain: fromPromise(({ input }) => drain(input.partition)),
    },
  });

  async function settle(p: number, owner: Actor<typeof ownerMachine>): Promise<void> {
    const s = await waitFor(owner, (x) => x.status === "done", { timeout: Infinity });
    if (owners.get(p) === owner) owners.delete(p);
    o.inspection?.forget("partition", String(p));
    owner.stop();
    // a runner that could not start fails the manager: its supervisor restarts it
    if (s.matches("failed")) throw new Error(`partition ${p}: ${s.context.error}`);
  }

  return {
    async gain(p, epoch) {
      const owner = createActor(ownerMachine, { input: { partition: p, node: o.node, epoch } });
      o.inspection?.register("partition", String(p), owner);
      owners.set(p, owner);
      owner.start();
      const s = await waitFor(owner, (x) => x.matches("running") || x.status === "done", { timeout: Infinity });
      if (s.status === "done") await settle(p, owner);
    },
    async release(p) {
      const owner = owners.get(p);
      if (!owner) return;
      owner.send({ type: "release" });
      await settle(p, owner);
    },
    held: () => [...owners.keys()],
    running: () => [...running.keys()].sort((a, b) => a - b),
    resync() {
      for (const r of running.values()) r.resync();
    },
  };
}
