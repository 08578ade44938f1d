/**
 * A leader's periodic pass over a quiet KV bucket: the node keeps a live copy
 * of the entries (kv-mirror.ts) and, while it leads, looks at all of them
 * every tick. Schedules firing and approvals timing out are such passes.
 */
import type { KV } from "@nats-io/kv";
import { delay } from "./delay.js";
import { mirrorBucket } from "./kv-mirror.js";

/** Options of {@link startLeaderSweep}. */
export interface LeaderSweepOptions<T> {
  kv: KV;
  /** the entries are `<prefix>.<id>` */
  prefix: string;
  decode: (value: Uint8Array) => T | undefined;
  /** whether this node sweeps now (the leader, while its lease is surely valid) */
  leading: () => boolean;
  tickMs: number;
  /** one pass over the entries as the copy holds them; `going()` turns false when the node stops or stops leading */
  pass: (entries: T[], now: number, going: () => boolean) => Promise<void>;
  /** the watch failed (it is made again), or a pass threw (the next tick passes again) */
  onError?: (e: unknown) => void;
}

/** Starts sweeping; `stop()` resolves when the pass under way has ended. */
export function startLeaderSweep<T>(o: LeaderSweepOptions<T>): { stop(): Promise<void> } {
  const live = mirrorBucket(o.kv, { prefix: o.prefix, decode: o.decode, onError: o.onError });
  const stopping = new AbortController();
  const going = () => !stopping.signal.aborted && o.leading();
  const loop = (async () => {
    await live.ready;
    while (!stopping.signal.aborted) {
      if (o.leading()) await o.pass(live.values(), Date.now(), going).catch((e: unknown) => o.onError?.(e));
      await delay(o.tickMs, stopping.signal).catch(() => undefined);
    }
  })();
  return {
    async stop() {
      stopping.abort();
      live.stop();
      await loop;
    },
  };
}
