import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/index.js";
import { nodeRates, type Scrape } from "../../src/cli/node-rates.js";
import {
  bucketIncrease,
  counterIncrease,
  histogramBuckets,
  histogramQuantile,
  parsePrometheusText,
  PrometheusParseError,
  sumSamples,
  type Buckets,
} from "../../src/cli/prometheus-text.js";

const sources = { partitionsOwned: () => 12, leader: () => true, sessionsActive: () => 3 };

describe("parsePrometheusText", () => {
  it("reads names, labels and values and skips comments and blank lines", () => {
    const s = parsePrometheusText(
      [
        "# HELP claw_messages_in_total Inbound messages",
        "# TYPE claw_messages_in_total counter",
        'claw_messages_in_total{channel="telegram"} 5',
        'claw_messages_in_total{channel="slack",} 7',
        "",
        "claw_leader 1",
        "claw_sessions_active 3 1712345678000",
      ].join("\n"),
    );
    expect(s).toEqual([
      { name: "claw_messages_in_total", labels: { channel: "telegram" }, value: 5 },
      { name: "claw_messages_in_total", labels: { channel: "slack" }, value: 7 },
      { name: "claw_leader", labels: {}, value: 1 },
      { name: "claw_sessions_active", labels: {}, value: 3 },
    ]);
    expect(sumSamples(s, "claw_messages_in_total")).toBe(12);
    expect(sumSamples(s, "claw_messages_in_total", { channel: "slack" })).toBe(7);
  });

  it("unescapes label values and reads +Inf, -Inf, NaN and exponents", () => {
    const s = parsePrometheusText(
      ['x{a="q\\"uote",b="back\\\\slash",c="new\\nline",d="{}, = x"} +Inf', "y -Inf", "z NaN", "v Nan", "w 1.5e-3", 'h_bucket{le="+Inf"} 4'].join("\n"),
    );
    expect(s[0]).toEqual({ name: "x", labels: { a: 'q"uote', b: "back\\slash", c: "new\nline", d: "{}, = x" }, value: Infinity });
    expect(s[1]!.value).toBe(-Infinity);
    expect(s[2]!.value).toBeNaN();
    expect(s[3]!.value).toBeNaN(); // prom-client writes NaN as "Nan"
    expect(s[4]!.value).toBe(0.0015);
    expect(s[5]!.labels.le).toBe("+Inf");
  });

  it("names the line of a malformed sample", () => {
    expect(() => parsePrometheusText("ok 1\nbad{a=1} 2")).toThrow(PrometheusParseError);
    expect(() => parsePrometheusText("ok 1\nbad{a=1} 2")).toThrow(/line 2/);
    expect(() => parsePrometheusText('x{a="open} 1')).toThrow(/unterminated/);
    expect(() => parsePrometheusText("x")).toThrow(/not a number/);
    expect(() => parsePrometheusText("x one")).toThrow(/not a number/);
  });

  it("reads everything a node's registry renders", async () => {
    const m = createMetrics(sources);
    m.messagesIn.inc({ channel: 'we"ird' }, 2);
    m.stageDuration.observe({ stage: "end_to_end" }, 0.02);
    const s = parsePrometheusText(await m.render());
    expect(sumSamples(s, "claw_messages_in_total", { channel: 'we"ird' })).toBe(2);
    expect(sumSamples(s, "claw_partitions_owned")).toBe(12);
    expect(sumSamples(s, "claw_stage_duration_seconds_count", { stage: "end_to_end" })).toBe(1);
    expect(histogramBuckets(s, "claw_stage_duration_seconds", { stage: "end_to_end" }).at(-1)).toEqual({ le: Infinity, count: 1 });
  });
});

describe("histogram arithmetic", () => {
  const buckets = (pairs: Array<[number, number]>): Buckets => pairs.map(([le, count]) => ({ le, count }));

  it("interpolates a quantile inside its bucket as histogram_quantile does", () => {
    // 100 observations: 50 ≤ 0.1, 40 in (0.1, 0.5], 10 in (0.5, 1]
    const b = buckets([
      [0.1, 50],
      [0.5, 90],
      [1, 100],
      [Infinity, 100],
    ]);
    expect(histogramQuantile(0.5, b)).toBeCloseTo(0.1);
    expect(histogramQuantile(0.25, b)).toBeCloseTo(0.05); // first bucket starts at 0
    expect(histogramQuantile(0.7, b)).toBeCloseTo(0.3);
    expect(histogramQuantile(0.99, b)).toBeCloseTo(0.95);
    expect(histogramQuantile(1, b)).toBeCloseTo(1);
  });

  it("answers the highest finite bound for a quantile in +Inf, and nothing without observations", () => {
    expect(
      histogramQuantile(
        0.99,
        buckets([
          [1, 1],
          [2, 2],
          [Infinity, 10],
        ]),
      ),
    ).toBe(2);
    expect(histogramQuantile(0.99, buckets([[Infinity, 0]]))).toBeUndefined();
    expect(histogramQuantile(0.99, [])).toBeUndefined();
    expect(histogramQuantile(1.5, buckets([[Infinity, 3]]))).toBeUndefined();
  });

  it("diffs buckets between scrapes, and takes the later scrape whole after a restart", () => {
    const before = buckets([
      [0.1, 10],
      [1, 20],
      [Infinity, 20],
    ]);
    const after = buckets([
      [0.1, 10],
      [1, 25],
      [Infinity, 26],
    ]);
    expect(bucketIncrease(before, after)).toEqual(
      buckets([
        [0.1, 0],
        [1, 5],
        [Infinity, 6],
      ]),
    );
    const restarted = buckets([
      [0.1, 1],
      [1, 2],
      [Infinity, 2],
    ]);
    expect(bucketIncrease(before, restarted)).toEqual(restarted);
    expect(counterIncrease(10, 15)).toBe(5);
    expect(counterIncrease(10, 3)).toBe(3);
  });
});

describe("nodeRates", () => {
  it("gives msgs/s and the end-to-end p99 of the interval between two scrapes", async () => {
    const m = createMetrics(sources);
    m.messagesIn.inc({ channel: "a" }, 100);
    m.messagesOut.inc({ channel: "a" }, 90);
    // an old slow message: outside the interval, it must not count
    m.stageDuration.observe({ stage: "end_to_end" }, 20);
    const before: Scrape = { at: 10_000, samples: parsePrometheusText(await m.render()) };
    m.messagesIn.inc({ channel: "a" }, 30);
    m.messagesIn.inc({ channel: "b" }, 10);
    m.messagesOut.inc({ channel: "b" }, 20);
    for (let i = 0; i < 99; i++) m.stageDuration.observe({ stage: "end_to_end" }, 0.003); // (0.0025, 0.005]
    m.stageDuration.observe({ stage: "end_to_end" }, 0.7); // (0.5, 1]
    m.stageDuration.observe({ stage: "session" }, 9); // another stage
    const after: Scrape = { at: 12_000, samples: parsePrometheusText(await m.render()) };
    const r = nodeRates(before, after);
    expect(r.inPerSec).toBe(20);
    expect(r.outPerSec).toBe(10);
    expect(r.completed).toBe(100);
    // rank 99 of 100 is the last observation of the (0.0025, 0.005] bucket
    expect(r.p99Seconds).toBeCloseTo(0.005);
    expect(r.sessionsActive).toBe(3);
    expect(r.partitionsOwned).toBe(12);
    expect(r.leader).toBe(true);
  });

  it("has no p99 when nothing completed in the interval", async () => {
    const m = createMetrics(sources);
    const s = parsePrometheusText(await m.render());
    const r = nodeRates({ at: 0, samples: s }, { at: 1000, samples: s });
    expect(r).toMatchObject({ inPerSec: 0, outPerSec: 0, completed: 0, p99Seconds: undefined });
  });
});
