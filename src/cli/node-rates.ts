/**
 * What `claw top` shows for one node, computed from two scrapes of its
 * `GET /metrics`: message rates, end-to-end p99 over the interval, and the
 * gauges of the later scrape.
 */
import {
  bucketIncrease,
  counterIncrease,
  hasSample,
  histogramBuckets,
  histogramQuantile,
  parsePrometheusText,
  sumSamples,
  type Sample,
} from "./prometheus-text.js";

/** One scrape of a node's metrics. */
export interface Scrape {
  /** ms since epoch, when the response arrived */
  at: number;
  samples: Sample[];
}

/** One node's figures over an interval. */
export interface NodeRates {
  /** inbound messages accepted per second (all channels) */
  inPerSec: number;
  /** replies published per second (all channels) */
  outPerSec: number;
  /** end-to-end p99 in seconds over the interval; undefined when no message completed */
  p99Seconds?: number;
  /** messages that completed end to end in the interval */
  completed: number;
  sessionsActive: number;
  partitionsOwned: number;
  leader: boolean;
}

/** Stage label of the end-to-end histogram series (src/observability/metrics.ts). */
const END_TO_END = { stage: "end_to_end" };

/** Fetches and parses one node's `/metrics`; throws on a non-200 answer or after `timeoutMs`. */
export async function scrapeMetrics(baseUrl: string, timeoutMs = 2_000): Promise<Scrape> {
  const url = new URL("/metrics", baseUrl);
  let text: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
    text = await res.text();
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    if (err.name === "TimeoutError") throw new Error(`GET ${url}: no answer within ${timeoutMs} ms`, { cause: e });
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND) is in its cause
    if (err.cause?.code) throw new Error(`GET ${url}: ${err.cause.code}`, { cause: e });
    throw e;
  }
  return { at: Date.now(), samples: parsePrometheusText(text) };
}

/** Rates between two scrapes of the same node (`before` older than `after`). */
export function nodeRates(before: Scrape, after: Scrape): NodeRates {
  const seconds = Math.max(0.001, (after.at - before.at) / 1000);
  const rate = (name: string) => counterIncrease(sumSamples(before.samples, name), sumSamples(after.samples, name)) / seconds;
  const name = "claw_stage_duration_seconds";
  const window = bucketIncrease(histogramBuckets(before.samples, name, END_TO_END), histogramBuckets(after.samples, name, END_TO_END));
  return {
    inPerSec: rate("claw_messages_in_total"),
    outPerSec: rate("claw_messages_out_total"),
    p99Seconds: histogramQuantile(0.99, window),
    completed: window.at(-1)?.count ?? 0,
    sessionsActive: sumSamples(after.samples, "claw_sessions_active"),
    partitionsOwned: sumSamples(after.samples, "claw_partitions_owned"),
    leader: hasSample(after.samples, "claw_leader") && sumSamples(after.samples, "claw_leader") > 0,
  };
}
