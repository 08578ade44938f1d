/**
 * Partition claims: `claim.<p>` in KV `claw_cluster` names the one node that
 * runs partition `p`. A node takes a claim when it is free, already its own,
 * or held by a node that is no longer alive, and drops it once it has drained
 * the partition — so no partition is ever run by two live nodes at once.
 */
import type { KV } from "@nats-io/kv";
import { withRetry } from "../bus/index.js";
import type { Liveness } from "./membership.js";

/** A partition claim as stored. */
export interface Claim {
  node: string;
  epoch: number;
  ts: number;
}

/** The KV key of partition `p`'s claim. */
export const claimKey = (p: number) => `claim.${p}`;

/** Options of {@link partitionClaims}. */
export interface PartitionClaimsOptions {
  cluster: KV;
  /** whether a claim's holder is still alive (heartbeat, and presence on the bus) */
  liveness: Pick<Liveness, "isAlive">;
  node: string;
}

/** One node's hand on the claims. */
export interface PartitionClaims {
  /**
   * Takes the claim of `p` for `epoch`, waiting while a live holder still
   * drains, for as long as `wanted()` says so. Resolves with the node it was
   * taken from (when another's), or undefined once it is no longer wanted.
   */
  take(p: number, epoch: number, wanted: () => boolean): Promise<{ tookFrom: string | undefined } | undefined>;
  /** drops the claim of `p` if it is this node's */
  drop(p: number): Promise<void>;
}

/** The claims as seen by node `o.node`. Starts nothing. */
export function partitionClaims(o: PartitionClaimsOptions): PartitionClaims {
  return {
    async take(p, epoch, wanted) {
      const claim = JSON.stringify({ node: o.node, epoch, ts: Date.now() } satisfies Claim);
      while (wanted()) {
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
          return { tookFrom: holder && holder !== o.node ? holder : undefined };
        } catch {
          // someone wrote the claim between our read and write: read again
        }
      }
      return undefined;
    },
    async drop(p) {
      const e = await o.cluster.get(claimKey(p)).catch(() => null);
      if (e && e.operation === "PUT" && e.json<Claim>().node === o.node) {
        await o.cluster.delete(claimKey(p), { previousSeq: e.revision }).catch(() => undefined);
      }
    },
  };
}
