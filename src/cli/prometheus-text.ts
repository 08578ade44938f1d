/**
 * A small reader of the Prometheus text exposition format (version 0.0.4), as
 * served by `GET /metrics`, and the arithmetic `claw top` needs on two scrapes:
 * counter deltas and quantiles from histogram bucket deltas.
 *
 * Format: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */

/** One sample line: `name{labels} value [timestamp]`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Thrown for a line that is not a sample, a comment or blank. */
export class PrometheusParseError extends Error {
  override readonly name = "PrometheusParseError";
  readonly code = "prometheus_parse";
  constructor(
    readonly line: number,
    readonly text: string,
    why: string,
  ) {
    super(`metrics line ${line}: ${why}: ${text.slice(0, 120)}`);
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** A float as Go's ParseFloat reads it (Prometheus does): `Inf`, `NaN` in any case (prom-client writes `Nan`). */
function parseValue(text: string): number {
  switch (text.toLowerCase()) {
    case "+inf":
    case "inf":
      return Infinity;
    case "-inf":
      return -Infinity;
    case "nan":
      return NaN;
    default: {
      const v = Number(text);
      if (text === "" || Number.isNaN(v)) throw new Error(`not a number: ${text}`);
      return v;
    }
  }
}

/** Reads `{a="x",b="y"}` starting at `s[i] === "{"`; returns the labels and the index after `}`. */
function parseLabels(s: string, i: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  i++; // "{"
  for (;;) {
    while (s[i] === " " || s[i] === ",") i++;
    if (s[i] === "}") return { labels, end: i + 1 };
    const m = LABEL_NAME.exec(s.slice(i));
    if (!m) throw new Error("bad label name");
    const name = m[0];
    i += name.length;
    while (s[i] === " ") i++;
    if (s[i] !== "=") throw new Error(`expected = after label ${name}`);
    i++;
    while (s[i] === " ") i++;
    if (s[i] !== '"') throw new Error(`expected " after ${name}=`);
    i++;
    let value = "";
    for (;;) {
      const c = s[i];
      if (c === undefined) throw new Error("unterminated label value");
      if (c === '"') break;
      if (c === "\\") {
        const n = s[i + 1];
        value += n === "n" ? "\n" : (n ?? "");
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    labels[name] = value;
    i++; // closing quote
  }
}

/**
 * Parses Prometheus text into samples (comments, `# HELP` and `# TYPE` lines
 * are skipped). Throws {@link PrometheusParseError} on a malformed line.
 */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    try {
      const m = NAME.exec(line);
      if (!m) throw new Error("no metric name");
      let i = m[0].length;
      let labels: Record<string, string> = {};
      if (line[i] === "{") ({ labels, end: i } = parseLabels(line, i));
      // value, then an optional timestamp
      const [value] = line.slice(i).trim().split(/\s+/);
      out.push({ name: m[0], labels, value: parseValue(value ?? "") });
    } catch (e) {
      throw new PrometheusParseError(n + 1, line, (e as Error).message);
    }
  }
  return out;
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sumSamples(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) if (s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  return sum;
}

/** True when some sample is named `name`. */
export function hasSample(samples: readonly Sample[], name: string): boolean {
  return samples.some((s) => s.name === name);
}

/** Increase of a counter between two scrapes; a decrease means the process restarted, so the new value is the increase. */
export function counterIncrease(before: number, after: number): number {
  return after >= before ? after - before : after;
}

/** A histogram's cumulative buckets (upper bound → count), sorted by bound, `+Inf` last. */
export type Buckets = Array<{ le: number; count: number }>;

/** The cumulative buckets of histogram `name` (summed over series whose labels include `match`). */
export function histogramBuckets(samples: readonly Sample[], name: string, match: Record<string, string> = {}): Buckets {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || s.labels.le === undefined) continue;
    if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    const le = parseValue(s.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return [...byLe.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/** Per-bucket increase between two scrapes of the same histogram (a reset takes `after` as it is). */
export function bucketIncrease(before: Buckets, after: Buckets): Buckets {
  const prev = new Map(before.map((b) => [b.le, b.count]));
  const total = (bs: Buckets) => bs.at(-1)?.count ?? 0;
  const reset = total(after) < total(before);
  return after.map((b) => ({ le: b.le, count: reset ? b.count : Math.max(0, b.count - (prev.get(b.le) ?? 0)) }));
}

/**
 * The φ-quantile of cumulative buckets, interpolated linearly inside the
 * bucket that holds it — what PromQL's `histogram_quantile` does. Undefined
 * when there are no observations. A quantile in the `+Inf` bucket is the
 * highest finite bound.
 */
export function histogramQuantile(phi: number, buckets: Buckets): number | undefined {
  if (buckets.length === 0 || phi < 0 || phi > 1) return undefined;
  const total = buckets.at(-1)!.count;
  if (!(total > 0)) return undefined;
  const rank = phi * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lowerBound;
      const inBucket = b.count - lowerCount;
      if (inBucket <= 0) return b.le;
      return lowerBound + (b.le - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = b.le;
    lowerCount = b.count;
  }
  return lowerBound;
}
