/**
 * Partition assignment by rendezvous (highest-random-weight) hashing: each
 * partition goes to the live member with the highest hash of (partition,
 * member). Adding or removing a member moves only the partitions it wins or
 * held — about P/N — and every node computes the same answer.
 */
import { fnv1a32 } from "../bus/index.js";

/** The assignment the leader writes to KV `claw_cluster` under `assignment`. */
export interface Assignment {
  /** increases with every change */
  epoch: number;
  /** owner node id of partition p at index p */
  owners: string[];
  /** the live members it was computed from, sorted */
  members: string[];
  leader: string;
  ts: number;
}

// a second mixing round so that similar node ids do not produce correlated weights
function weight(p: number, member: string): number {
  return fnv1a32(`${fnv1a32(`${member}#${p}`)}:${p}`);
}

/** The owner of every partition among `members` (sorted ids give deterministic ties). */
export function rendezvousAssign(partitions: number, members: readonly string[]): string[] {
  if (members.length === 0) return [];
  const sorted = [...members].sort();
  return Array.from({ length: partitions }, (_, p) => {
    let best = sorted[0]!;
    let bestW = -1;
    for (const m of sorted) {
      const w = weight(p, m);
      if (w > bestW) {
        best = m;
        bestW = w;
      }
    }
    return best;
  });
}

/** Partitions whose owner differs between two owner lists. */
export function moved(a: readonly string[], b: readonly string[]): number {
  let n = 0;
  for (let p = 0; p < Math.max(a.length, b.length); p++) if (a[p] !== b[p]) n++;
  return n;
}
