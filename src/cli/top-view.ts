/**
 * One frame of `claw top`: per node, message rates and end-to-end p99 from
 * two scrapes of its `/metrics`, sessions, partitions and backlog.
 */
import { backlogByOwner, type ClusterStatus } from "../supervisors/index.js";
import { nodeRates, type NodeRates, type Scrape } from "./node-rates.js";
import { formatTable, type Column } from "./text-table.js";

/** A node's scrape, or why there is none. */
export type ScrapeResult = { ok: true; scrape: Scrape } | { ok: false; error: string };

/** One node's line of a frame. */
export interface TopRow {
  node: string;
  leader: boolean;
  http?: string;
  /** undefined when either scrape is missing */
  rates?: NodeRates;
  /** why there are no rates */
  error?: string;
  /** partitions assigned to it */
  owned: number;
  /** pending + in flight over its partitions */
  lag: number;
}

/** The data of one frame (what `--json` prints). */
export interface TopFrame {
  at: number;
  /** seconds between the two scrapes (of the first node) */
  intervalSeconds: number;
  leader?: string;
  epoch: number;
  deadLetters: number;
  nodes: TopRow[];
}

/** Builds a frame from the cluster status and each node's previous and current scrape. */
export function topFrame(
  status: ClusterStatus,
  before: ReadonlyMap<string, ScrapeResult>,
  after: ReadonlyMap<string, ScrapeResult>,
  at = Date.now(),
): TopFrame {
  const backlog = backlogByOwner(status.partitions);
  let intervalSeconds = 0;
  const nodes = status.members.map((m): TopRow => {
    const b = backlog.get(m.node);
    const row: TopRow = { node: m.node, leader: m.node === status.leader, http: m.http, owned: b?.owned ?? 0, lag: (b?.pending ?? 0) + (b?.inFlight ?? 0) };
    const x = before.get(m.node);
    const y = after.get(m.node);
    if (!m.http) row.error = "no HTTP address yet";
    else if (y && !y.ok) row.error = y.error;
    else if (x && !x.ok) row.error = x.error;
    else if (x?.ok && y?.ok) {
      row.rates = nodeRates(x.scrape, y.scrape);
      intervalSeconds ||= (y.scrape.at - x.scrape.at) / 1000;
    } else row.error = "first scrape";
    return row;
  });
  return { at, intervalSeconds, leader: status.leader, epoch: status.epoch, deadLetters: status.dlq.total, nodes };
}

/** Seconds as `850µs`, `12.3ms`, `1.20s`; `-` for none. */
export function formatLatency(seconds: number | undefined): string {
  if (seconds === undefined) return "-";
  if (seconds < 0.001) return `${Math.round(seconds * 1e6)}µs`;
  if (seconds < 1) return `${(seconds * 1000).toFixed(1)}ms`;
  return `${seconds.toFixed(2)}s`;
}

const rate = (n: number | undefined) => (n === undefined ? "-" : n >= 100 ? n.toFixed(0) : n.toFixed(1));

const COLUMNS: Array<Column<TopRow>> = [
  { header: "NODE", cell: (r) => r.node + (r.leader ? " *" : "") },
  { header: "IN/S", align: "right", cell: (r) => rate(r.rates?.inPerSec) },
  { header: "OUT/S", align: "right", cell: (r) => rate(r.rates?.outPerSec) },
  { header: "P99 E2E", align: "right", cell: (r) => formatLatency(r.rates?.p99Seconds) },
  { header: "SESSIONS", align: "right", cell: (r) => r.rates?.sessionsActive ?? "-" },
  { header: "PARTITIONS", align: "right", cell: (r) => r.rates?.partitionsOwned ?? r.owned },
  { header: "LAG", align: "right", cell: (r) => r.lag },
  { header: "", cell: (r) => r.error ?? "" },
];

/** The text of a frame (without screen control codes). */
export function renderTopFrame(f: TopFrame): string {
  const totals = f.nodes.reduce((t, n) => ({ in: t.in + (n.rates?.inPerSec ?? 0), out: t.out + (n.rates?.outPerSec ?? 0), lag: t.lag + n.lag }), {
    in: 0,
    out: 0,
    lag: 0,
  });
  const head =
    `claw top   ${new Date(f.at).toISOString().slice(11, 19)}   leader: ${f.leader ?? "(none)"}   epoch: ${f.epoch}   members: ${f.nodes.length}   ` +
    `dead letters: ${f.deadLetters}   over ${f.intervalSeconds.toFixed(1)}s`;
  const sum = `total: ${rate(totals.in)} in/s   ${rate(totals.out)} out/s   lag ${totals.lag}`;
  return [head, "", ...formatTable(COLUMNS, f.nodes), "", sum].join("\n") + "\n";
}
