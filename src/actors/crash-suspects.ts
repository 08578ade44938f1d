/**
 * Crash suspects: messages that were in progress on a partition owner that
 * died. Taking a partition over recreates its consumer (see the partition
 * runner), which resets JetStream's delivery counts; the stream-sequence
 * ranges that were in flight at each takeover are kept here instead, so a
 * message that keeps killing its node is still dead-lettered after
 * `maxDeliver` attempts.
 *
 * Stored in KV `claw_cluster` under `suspects.<stage>.<p>` as a list of
 * ranges; a sequence's crash count is the number of ranges that contain it.
 */
import type { KV } from "@nats-io/kv";
import { withRetry } from "../bus/index.js";

/** One takeover: sequences `from..to` (inclusive) were possibly in flight. */
interface SuspectRange {
  from: number;
  to: number;
}

/** The crash history of one partition consumer. */
export interface CrashSuspects {
  /** how many takeovers found `seq` in flight */
  crashes(seq: number): number;
  /** records a takeover with `from..to` in flight, dropping ranges below the ack floor */
  record(from: number, to: number): Promise<void>;
}

const MAX_RANGES = 64;

/** Loads the suspects of `stage`/`p` from KV. */
export async function loadCrashSuspects(kv: KV, stage: string, p: number): Promise<CrashSuspects> {
  const key = `suspects.${stage}.${p}`;
  const entry = await withRetry(() => kv.get(key));
  let ranges: SuspectRange[] = entry && entry.operation === "PUT" && entry.value.length > 0 ? (entry.json() as SuspectRange[]) : [];
  return {
    crashes: (seq) => ranges.reduce((n, r) => (seq >= r.from && seq <= r.to ? n + 1 : n), 0),
    async record(from, to) {
      // everything at or below the ack floor (from - 1) is settled: those ranges can go
      ranges = ranges
        .filter((r) => r.to >= from)
        .concat([{ from, to }])
        .slice(-MAX_RANGES);
      await withRetry(() => kv.put(key, JSON.stringify(ranges)));
    },
  };
}
