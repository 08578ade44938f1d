/**
 * Latency recording and closed loops for the request/response scenarios
 * (`llm`, `skills`, `invoke`): an HDR histogram in µs, percentiles in ms.
 */
import * as hdr from "hdr-histogram-js";

/** Percentiles of what a recorder saw, in ms. */
export interface Latencies {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** A latency histogram: record ms, read percentiles in ms. */
export function latencyRecorder(): { record(ms: number): void; summary(): Latencies } {
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  // (a percentile is the top of its bucket: never above the largest value recorded)
  const ms = (q: number) => Math.round(Math.min(hist.getValueAtPercentile(q), hist.maxValue) / 10) / 100;
  return {
    record: (ms) => hist.recordValue(Math.max(1, Math.round(ms * 1000))),
    summary: () => ({ p50Ms: ms(50), p99Ms: ms(99), maxMs: Math.round(hist.maxValue / 10) / 100 }),
  };
}

/** What a closed loop measured. */
export interface ClosedLoopResult extends Latencies {
  concurrency: number;
  requests: number;
  perS: number;
  errors: number;
}

/**
 * `concurrency` workers each calling `once(worker, i)` back to back for
 * `seconds`; a call that throws counts as an error, not in the latencies.
 */
export async function closedLoop(concurrency: number, seconds: number, once: (worker: number, i: number) => Promise<void>): Promise<ClosedLoopResult> {
  const latencies = latencyRecorder();
  let requests = 0;
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const start = performance.now();
        try {
          await once(w, i);
          latencies.record(performance.now() - start);
          requests++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  return { concurrency, requests, perS: Math.round((requests / s) * 10) / 10, errors, ...latencies.summary() };
}

/** A plain-text table, the first column left-aligned. */
export function textTable(head: string[], rows: Array<Array<string | number>>): string {
  const lines = rows.map((r) => r.map(String));
  const width = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [head, ...lines].map((l) => l.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join("  ")).join("\n");
}
