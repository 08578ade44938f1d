import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/index.js";

interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Array<{ expr: string; datasource?: { uid: string } }>;
  panels?: Panel[];
}

const dashboard = JSON.parse(readFileSync(new URL("../../grafana/claw.json", import.meta.url), "utf8")) as {
  __inputs: Array<{ name: string; type: string; pluginId: string }>;
  panels: Panel[];
  templating: { list: Array<{ query: { query: string } | string; datasource?: { uid: string } }> };
};

const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const exprs = [
  ...panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
  ...dashboard.templating.list.map((v) => (typeof v.query === "string" ? v.query : v.query.query)),
];

/** Metric name → its label names and type, from the registry the node serves. */
function registryMetrics(): Map<string, { type: string; labels: string[] }> {
  const m = createMetrics({ partitionsOwned: () => 0, leader: () => false, sessionsActive: () => 0 });
  const out = new Map<string, { type: string; labels: string[] }>();
  for (const metric of m.registry.getMetricsAsArray()) {
    const labels = (metric as unknown as { labelNames?: string[] }).labelNames ?? [];
    out.set(metric.name, { type: String(metric.type), labels: [...labels] });
  }
  return out;
}

const metrics = registryMetrics();
/** Labels Prometheus adds to every series it scrapes. */
const TARGET_LABELS = ["instance", "job"];

/** The registry metric behind a series name (`x_bucket`, `x_sum`, `x_count` are a histogram's). */
function resolve(series: string): { name: string; type: string; labels: string[] } | undefined {
  const exact = metrics.get(series);
  if (exact) return { name: series, ...exact };
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  const base = m ? metrics.get(m[1]!) : undefined;
  if (!base || (base.type !== "histogram" && base.type !== "summary")) return undefined;
  return { name: m![1]!, type: base.type, labels: m![2] === "bucket" ? [...base.labels, "le"] : base.labels };
}

const seriesIn = (expr: string) => [...expr.matchAll(/\bclaw_[a-zA-Z0-9_:]*/g)].map((m) => m[0]);

describe("grafana/claw.json", () => {
  it("uses only metrics that the node's registry defines", () => {
    expect(exprs.length).toBeGreaterThan(20);
    const unknown = exprs.flatMap((e) =>
      seriesIn(e)
        .filter((s) => !resolve(s))
        .map((s) => `${s} in ${e}`),
    );
    expect(unknown).toEqual([]);
    for (const e of exprs) expect(seriesIn(e), e).not.toEqual([]);
  });

  it("matches and groups only on labels those metrics have", () => {
    const wrong: string[] = [];
    for (const e of exprs) {
      for (const sel of e.matchAll(/\b(claw_[a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)) {
        const allowed = [...(resolve(sel[1]!)?.labels ?? []), ...TARGET_LABELS];
        for (const m of sel[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"/g))
          if (!allowed.includes(m[1]!)) wrong.push(`${m[1]} on ${sel[1]} in ${e}`);
      }
      const allowed = new Set([...seriesIn(e).flatMap((s) => resolve(s)?.labels ?? []), ...TARGET_LABELS]);
      for (const g of e.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
        for (const label of g[1]!
          .split(",")
          .map((l) => l.trim())
          .filter(Boolean))
          if (!allowed.has(label)) wrong.push(`by ${label} in ${e}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("shows every metric Claw defines itself", () => {
    const own = [...metrics.keys()].filter((n) => !n.startsWith("claw_nodejs_") && !n.startsWith("claw_process_"));
    const used = new Set(exprs.flatMap((e) => seriesIn(e).map((s) => resolve(s)?.name)));
    expect(own.filter((n) => !used.has(n))).toEqual([]);
    for (const runtime of ["claw_nodejs_eventloop_lag_p99_seconds", "claw_nodejs_heap_size_used_bytes", "claw_nodejs_gc_duration_seconds"])
      expect(used.has(runtime), runtime).toBe(true);
  });

  it("takes its datasource as the DS_PROMETHEUS input", () => {
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: "DS_PROMETHEUS", type: "datasource", pluginId: "prometheus" })]);
    for (const p of panels.filter((p) => p.type !== "row")) {
      expect(p.datasource, p.title).toEqual({ type: "prometheus", uid: "${DS_PROMETHEUS}" });
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe("${DS_PROMETHEUS}");
    }
    for (const v of dashboard.templating.list) expect(v.datasource?.uid).toBe("${DS_PROMETHEUS}");
  });

  it("lays panels out on the 24-column grid without overlaps", () => {
    const boxes = panels.map((p) => ({ title: p.title, ...p.gridPos }));
    for (const b of boxes) expect(b.x + b.w, b.title).toBeLessThanOrEqual(24);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!;
        const b = boxes[j]!;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap, `${a.title} / ${b.title}`).toBe(false);
      }
    }
  });
});
