/**
 * `npm run bench:results [-- --quick]`: runs every scenario one after the
 * other (each as `bench/run.ts <scenario>`), and rewrites the generated part of
 * bench/RESULTS.md — between `<!-- generated:start -->` and
 * `<!-- generated:end -->` — with the machine, the versions and one table per
 * scenario. Everything outside the markers (the analysis) is kept.
 * `--quick` shortens every scenario (10 s runs, 20,000 sessions) for a smoke run;
 * `--from-log <file>` renders the JSON lines of an earlier run's output instead of running.
 */
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { findNatsServerBinary } from "../src/bus/index.js";
import type { InvokeRow } from "./invoke.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const RESULTS = fileURLToPath(new URL("RESULTS.md", import.meta.url));
const START = "<!-- generated:start -->";
const END = "<!-- generated:end -->";

interface Row {
  target: string;
  throughput: number;
  received: number;
  lost: number;
  refused?: number;
  duplicates: number;
  errors: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number };
  cpuWorkerS: number;
  cpuMsPerMessage?: number;
  cpuNatsS: number;
  rssWorkerMB: number;
}

interface Report {
  scenario: string;
  load?: { mode: { kind: string; rate?: number; window?: number }; durationS: number; sessions: number; payloadBytes: number };
  ratio?: number;
  failover?: { killAtS: number; claw: { beforeP99Ms: number; spikeMaxMs: number; recoveredAfterS: number | null } };
  results: Row[] | Record<string, number>;
  /** invoke: closed-loop rows against the bare server and Claw */
  rows?: InvokeRow[];
  p50GapMs?: number;
}

/** Runs one scenario and returns its JSON line. Its progress goes to our stderr. */
function runScenario(args: string[]): Promise<Report> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/run.ts", ...args], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      process.stderr.write(b);
    });
    child.once("exit", (code) => {
      const line = out
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .pop();
      if (code !== 0 || !line) return reject(new Error(`bench ${args.join(" ")} exited with ${code}`));
      resolve(JSON.parse(line) as Report);
    });
  });
}

const n = (v: number | undefined) => (v === undefined ? "" : v.toLocaleString("en-US"));

function table(rows: Row[]): string {
  const head = "| target | msg/s | p50 ms | p90 | p99 | p99.9 | max | lost | refused | dup | errors | CPU s node(s) | CPU ms/msg | CPU s nats | RSS MB |";
  const sep = "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";
  const lines = rows.map(
    (r) =>
      `| ${r.target} | ${n(r.throughput)} | ${r.latencyMs.p50} | ${r.latencyMs.p90} | ${n(r.latencyMs.p99)} | ${n(r.latencyMs.p999)} | ` +
      `${n(r.latencyMs.max)} | ${r.lost} | ${r.refused ?? 0} | ${r.duplicates} | ${r.errors} | ${r.cpuWorkerS} | ${r.cpuMsPerMessage ?? ""} | ${r.cpuNatsS} | ${r.rssWorkerMB} |`,
  );
  return [head, sep, ...lines].join("\n");
}

function describeLoad(r: Report): string {
  const l = r.load;
  if (!l) return "";
  const mode = l.mode.kind === "open" ? `open loop at ${n(l.mode.rate)} msg/s` : `closed loop, ${l.mode.window} in flight`;
  return `${mode}, ${l.durationS} s, ${n(l.sessions)} sessions, ${l.payloadBytes} B payload`;
}

function section(title: string, command: string, r: Report): string {
  const parts = [`### ${title}`, "", `\`${command}\` — ${describeLoad(r)}`, ""];
  if (r.rows) {
    parts.push(
      "| target | clients | req/s | p50 ms | p99 | max | errors | CPU ms/req | CPU ms/req nats |",
      "|---|---|---|---|---|---|---|---|---|",
      ...r.rows.map(
        (x) =>
          `| ${x.target} | ${x.concurrency} | ${n(x.perS)} | ${x.p50Ms} | ${x.p99Ms} | ${x.maxMs} | ${x.errors} | ${x.cpuMsPerRequest} | ` +
          `${x.natsCpuMsPerRequest ?? ""} |`,
      ),
      "",
      `Claw ÷ bare HTTP at 64 clients: **${r.ratio}**; p50 at 1 client, Claw − bare: **${r.p50GapMs} ms**`,
      "",
    );
  } else if (Array.isArray(r.results)) {
    parts.push(table(r.results), "");
    if (r.ratio !== undefined) parts.push(`Claw ÷ baseline throughput: **${r.ratio}**`, "");
    if (r.failover) {
      const f = r.failover;
      parts.push(
        `Node 2 SIGKILLed at ${f.killAtS} s. p99 before: ${f.claw.beforeP99Ms} ms; worst latency after: ${n(f.claw.spikeMaxMs)} ms; ` +
          `back to normal (every later second's p99 ≤ max(3× before, before + 50 ms)) after: ` +
          `${f.claw.recoveredAfterS === null ? "not within the run" : `${f.claw.recoveredAfterS} s`}.`,
        "",
      );
    }
    if (r.scenario === "observe") {
      const [, claw, ...observed] = r.results;
      for (const o of observed)
        parts.push(
          `- ${o.target}: ${Math.round((1 - o.throughput / Math.max(1, claw!.throughput)) * 1000) / 10} % less throughput, ` +
            `${Math.round(((o.cpuMsPerMessage ?? 0) / Math.max(0.001, claw!.cpuMsPerMessage ?? 0) - 1) * 1000) / 10} % more CPU per message than unobserved`,
        );
      parts.push("");
    }
  } else {
    parts.push("| measure | value |", "|---|---|", ...Object.entries(r.results).map(([k, v]) => `| ${k} | ${n(v)} |`), "");
  }
  return parts.join("\n");
}

/** The performance goals (issue 16) against this run's numbers: met or missed, each in the same run as its reference. */
function goals(reports: Map<string, Report>): string {
  const rowsOf = (name: string) => (Array.isArray(reports.get(name)?.results) ? (reports.get(name)!.results as Row[]) : []);
  const [sb, sc] = [rowsOf("steady").find((r) => r.target === "baseline"), rowsOf("steady").find((r) => r.target === "claw")];
  const [mb, mc] = [rowsOf("max").find((r) => r.target === "baseline"), rowsOf("max").find((r) => r.target === "claw")];
  const inv = reports.get("invoke")?.rows ?? [];
  const at = (t: InvokeRow["target"], c: number) => inv.find((x) => x.target === t && x.concurrency === c);
  const [b64, c64, b1, c1] = [at("bare http", 64), at("claw", 64), at("bare http", 1), at("claw", 1)];
  const mark = (ok: boolean | undefined) => (ok === undefined ? "not run" : ok ? "met" : "**missed**");
  const lines: string[] = ["### Goals", "", "| measure | reference (same run) | Claw | goal | |", "|---|---|---|---|---|"];
  if (sb && sc)
    lines.push(
      `| steady 1,000 msg/s, p50 / p99 | ${sb.latencyMs.p50} / ${sb.latencyMs.p99} ms | ${sc.latencyMs.p50} / ${sc.latencyMs.p99} ms | p99 ≤ 10 ms ` +
        `and ≤ 2× the baseline's | ${mark(sc.latencyMs.p99 <= 10 && sc.latencyMs.p99 <= 2 * sb.latencyMs.p99)} |`,
    );
  if (mb && mc)
    lines.push(
      `| max, closed loop 500 in flight | ${n(mb.throughput)} msg/s | ${n(mc.throughput)} msg/s ` +
        `(${Math.round((mc.throughput / mb.throughput) * 100) / 100}) | ≥ 0.6 of the baseline and ≥ 5,000 msg/s | ${mark(mc.throughput >= 0.6 * mb.throughput && mc.throughput >= 5000)} |`,
    );
  if (mb && mc) {
    const natsPer = (r: Row) => Math.round(((r.cpuNatsS * 1000) / Math.max(1, r.received)) * 1000) / 1000;
    lines.push(
      `| CPU per message (max), node / nats-server | ${mb.cpuMsPerMessage} / ${natsPer(mb)} ms | ${mc.cpuMsPerMessage} / ${natsPer(mc)} ms | node ≤ ` +
        `0.2 ms, nats-server ≤ 1.3× the baseline's | ${mark((mc.cpuMsPerMessage ?? 1) <= 0.2 && natsPer(mc) <= 1.3 * natsPer(mb))} |`,
    );
  }
  if (b64 && c64)
    lines.push(
      `| HTTP invoke, 64 clients | ${n(b64.perS)} req/s, p99 ${b64.p99Ms} ms (bare HTTP) | ${n(c64.perS)} turns/s ` +
        `(${Math.round((c64.perS / b64.perS) * 100) / 100}), p99 ${c64.p99Ms} ms | ≥ 0.8 of the bare server | ${mark(c64.perS >= 0.8 * b64.perS)} |`,
    );
  if (b1 && c1)
    lines.push(`| HTTP invoke, 1 client, p50 | ${b1.p50Ms} ms | ${c1.p50Ms} ms | within 2 ms of the bare server | ${mark(c1.p50Ms - b1.p50Ms <= 2)} |`);
  return lines.join("\n") + "\n";
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: "boolean", default: false }, "from-log": { type: "string" } } });
  const q = values.quick;
  const d = (full: number) => String(q ? 10 : full);
  const runs: Array<[string, string[]]> = [
    ["steady", ["steady", "--duration", d(60)]],
    ["max", ["max", "--duration", d(20)]],
    ["http", ["http", "--duration", d(60)]],
    ["invoke", ["invoke", "--duration", d(20)]],
    ["nodes", ["nodes", "--duration", d(20)]],
    ["failover", ["failover", "--duration", q ? "15" : "30"]],
    ["observe", ["observe", "--duration", d(20)]],
    ["sessions", ["sessions", "--sessions", q ? "20000" : "100000"]],
  ];
  const logged = values["from-log"]
    ? readFileSync(values["from-log"], "utf8")
        .split("\n")
        .filter((l) => l.startsWith('{"scenario"'))
        .map((l) => JSON.parse(l) as Report)
    : undefined;
  const sections: string[] = [];
  const reports = new Map<string, Report>();
  for (const [title, args] of runs) {
    let r: Report | undefined;
    if (logged) {
      r = logged.filter((x) => x.scenario === title).pop();
      if (!r) throw new Error(`no ${title} result in ${values["from-log"]}`);
    } else {
      process.stderr.write(`\n== bench ${args.join(" ")} ==\n`);
      r = await runScenario(args);
    }
    reports.set(title, r);
    sections.push(section(title, `npm run bench -- ${args.join(" ")}`, r));
  }
  sections.unshift(goals(reports));
  const natsBin = findNatsServerBinary();
  const natsVersion = natsBin ? execFileSync(natsBin, ["--version"]).toString().trim() : "not found";
  const pkg = JSON.parse(readFileSync(`${root}/package.json`, "utf8")) as { dependencies: Record<string, string> };
  const machine = [
    `Generated ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC by \`npm run bench:results${q ? " -- --quick" : ""}\`.`,
    "",
    `- ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}; ${natsVersion}`,
    `- xstate ${pkg.dependencies.xstate}, @nats-io/jetstream ${pkg.dependencies["@nats-io/jetstream"]}; one nats-server (file storage) per run, started fresh`,
    "- the load generator, nats-server and the node(s) share the same cores",
    "",
  ].join("\n");
  const generated = `${START}\n## Latest numbers\n\n${machine}\n${sections.join("\n")}${END}`;
  const text = readFileSync(RESULTS, "utf8");
  const at = text.indexOf(START);
  const end = text.indexOf(END);
  const next = at >= 0 && end > at ? text.slice(0, at) + generated + text.slice(end + END.length) : `${text.trimEnd()}\n\n${generated}\n`;
  writeFileSync(RESULTS, next);
  process.stderr.write(`\nwrote ${RESULTS}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:results: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
