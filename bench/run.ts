/**
 * `npm run bench -- <scenario> [options]`: runs a scenario against the raw
 * JetStream baseline and a Claw node, each on a fresh nats-server, and prints
 * a table and one JSON line.
 *
 *   steady   open loop, 1,000 msg/s for 60 s over 1,000 sessions
 *   max      closed loop, 500 in flight for 20 s over 1,000 sessions
 *   sessions one message to each of 100,000 sessions (--sessions), memory live and passivated
 *   nodes    the max load against 1, 2 and 3 nodes on one nats-server (throughput, CPU per message)
 *   http     the steady load, sent to Claw through POST /v1/messages (the baseline still over NATS)
 *   failover the steady load at 300 msg/s for 30 s against 2 nodes; one is SIGKILLed at 10 s:
 *            the latency spike and the time until latency is back to what it was
 *   observe  the max load against a node nobody watches, one whose every actor is watched
 *            (live events), and one exporting spans to an OTLP/HTTP sink: what observability costs
 *   invoke   POST /v1/agents/echo/invoke (a whole turn, the reply in the response) closed loop at 1 and 64
 *            clients, against a bare Node HTTP server answering the same requests (bench/bare-http-worker.ts);
 *            --secured adds Claw with an API key on every request and a shared per-key rate limit
 *   grpc     claw.v1.Claw/Invoke closed loop at 1 and 64 clients beside POST /v1/agents/echo/invoke on the same node in the
 *            same run (gRPC's clients on one channel, HTTP's on a keep-alive pool)
 *   amqp, mqtt  an open loop (--rate, default 500 msg/s) through a broker the bench starts into a node's channel
 *            account and back, against the broker alone (the client consuming what it publishes)
 *   llm      turns through /v1/chat/completions (the openai client) to an agent on a fake provider that
 *            answers at once, closed loop at concurrency 1 and 16, against the same client asking the fake
 *   skills   invocation latency, one at a time: time.now (in process) and bash `echo hi` (bubblewrap), beside
 *            the sandbox alone (bwrap /bin/true, bwrap node -e 0); --sessions is the number per series
 *   promises the timings the docs promise (first reply, 503 while NATS is away, key revocation on two
 *            nodes, partition failover, leader election, a watch's expiry), each --runs times (default 5) on a
 *            machine doing nothing else; the tests check them with margins for a loaded CI machine
 *   churn    250 msg/s for 36 s against 3 nodes, one SIGKILLed and restarted every 3 s (--every), with a new
 *            node id (or its old one: --same-ids):
 *            latency, what a core subscriber sees, and where the slowest messages spent their time
 *   idle     a node with nothing configured on its embedded nats-server, --runs times (default 3): time until /readyz
 *            says 200, its CPU until then, its RSS 10 s and 70 s after
 *   sessions-burst  what a conversation's first message costs: on a fresh target, --sessions (default 1,000) new
 *            chats at --rate (default 1,000 msg/s), the same chats again, as many other new chats on the now
 *            warm node, and those again; latency per phase, node CPU per message, the slowest messages' stages;
 *            --runs times (default 3), both targets started afresh each time, with each run's p99 ratios and their median
 *
 * Before the measured run every target answers one message per session (the warm-up, reported
 * apart as the cold start); --no-warmup measures from a fresh node.
 *
 * options: --rate N --duration S --sessions N --payload BYTES --window N --every S --same-ids --no-warmup --secured --runs N
 */
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { runLoad, type LoadOptions, type LoadResult, type TimelineSecond } from "./load-generator.js";
import { cpuSeconds, sample } from "./process-stats.js";
import { runSessions } from "./sessions.js";
import { runChurn } from "./churn.js";
import { runLlm } from "./llm.js";
import { runSkills } from "./skills.js";
import { runPromises } from "./promises.js";
import { runInvoke, type InvokeRow } from "./invoke.js";
import { runGrpc, type GrpcRow } from "./grpc.js";
import { runChannelBench } from "./channels.js";
import { textTable } from "./closed-loop.js";
import { startBaselineTarget, startClawTarget, type RunningTarget } from "./targets.js";
import { startOtlpSink, watchAllActors, type Observer } from "./observers.js";
import { attribute } from "./attribution.js";
import { burstRatios, runBurst, type BurstRow } from "./sessions-burst.js";
import { runIdle } from "./idle.js";

interface Row extends LoadResult {
  target: string;
  /** Claw: where the slowest messages spent their time */
  attribution?: string;
  cpuWorkerS: number;
  cpuMsPerMessage?: number;
  cpuNatsS: number;
  rssWorkerMB: number;
}

type Values = Record<string, string | boolean | undefined>;

/** A load of `mode`, with the options every scenario shares (`--duration --sessions --payload`). */
function shape(v: Values, mode: LoadOptions["mode"], durationS: number, graceS: number): LoadOptions {
  return {
    mode,
    durationS: Number(v.duration ?? durationS),
    sessions: Number(v.sessions ?? 1000),
    payloadBytes: Number(v.payload ?? 300),
    graceS,
    warmup: v["no-warmup"] === undefined,
  };
}

const SCENARIOS: Record<string, (v: Values) => LoadOptions> = {
  steady: (v) => shape(v, { kind: "open", rate: Number(v.rate ?? 1000) }, 60, 10),
  failover: (v) => shape(v, { kind: "open", rate: Number(v.rate ?? 300) }, 30, 30),
  max: (v) => shape(v, { kind: "closed", window: Number(v.window ?? 500) }, 20, 10),
};

/** What the failover run saw: latency before the kill, the spike, and when it was back to normal. */
function recovery(r: LoadResult, killAtS: number): { beforeP99Ms: number; spikeMaxMs: number; recoveredAfterS: number | null } {
  const before = r.timeline.filter((t) => t.s < killAtS && t.s >= 1 && t.count > 0);
  const beforeP99 = before.length ? before.map((t) => t.p99Ms).sort((a, b) => a - b)[Math.floor(before.length / 2)]! : 0;
  const after = r.timeline.filter((t) => t.s >= Math.floor(killAtS));
  const normal = (t: TimelineSecond) => t.count > 0 && t.p99Ms <= Math.max(3 * beforeP99, beforeP99 + 50);
  // back to normal: the first second from which every later second is normal
  let from: number | null = null;
  for (let i = after.length - 1; i >= 0 && normal(after[i]!); i--) from = after[i]!.s;
  return {
    beforeP99Ms: beforeP99,
    spikeMaxMs: Math.max(0, ...after.map((t) => t.maxMs)),
    recoveredAfterS: from === null ? null : Math.max(0, from - killAtS),
  };
}

async function measure(target: RunningTarget, load: LoadOptions, observe?: (url: string) => Promise<Observer>): Promise<Row> {
  const observer = await observe?.(target.nats.url);
  const nc = await connect({ servers: target.nats.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const pids = target.workers.map((w) => w.pid!);
  const before = await Promise.all([...pids, target.nats.pid!].map(sample));
  const r = await runLoad(nc, js, jsm, target, load);
  const after = await Promise.all([...pids, target.nats.pid!].map(sample));
  await nc.close();
  const observed = await observer?.stop();
  if (observed) process.stderr.write(`${target.name}: ${observed}\n`);
  const n = pids.length;
  return {
    target: target.name,
    ...r,
    attribution: target.slowTurns ? attribute(r, target.slowTurns) : undefined,
    cpuWorkerS: Math.round(pids.reduce((s, _, i) => s + cpuSeconds(before[i], after[i]), 0) * 100) / 100,
    cpuNatsS: Math.round(cpuSeconds(before[n], after[n]) * 100) / 100,
    rssWorkerMB: Math.round(after.slice(0, n).reduce((s, a) => s + (a?.rssBytes ?? 0), 0) / 1024 / 1024),
  };
}

/** BENCH_CLAW_ENV="CLAW_TRANSCRIPTS=off …": settings passed to the Claw node(s). */
function envFromBench(): Record<string, string> {
  return Object.fromEntries(
    (process.env.BENCH_CLAW_ENV ?? "")
      .split(" ")
      .filter(Boolean)
      .map((kv) => kv.split("=") as [string, string]),
  );
}

function table(rows: Row[]): string {
  const head = ["target", "msg/s", "p50 ms", "p90", "p99", "p99.9", "max", "lost", "refused", "dup", "cpu node s", "cpu ms/msg", "cpu nats s", "rss MB"];
  const lines = rows.map((r) =>
    [
      r.target,
      r.throughput,
      r.latencyMs.p50,
      r.latencyMs.p90,
      r.latencyMs.p99,
      r.latencyMs.p999,
      r.latencyMs.max,
      r.lost,
      r.refused,
      r.duplicates,
      r.cpuWorkerS,
      r.cpuMsPerMessage,
      r.cpuNatsS,
      r.rssWorkerMB,
    ].map(String),
  );
  const width = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [head, ...lines].map((l) => l.map((c, i) => c.padStart(width[i]!)).join("  ")).join("\n");
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      rate: { type: "string" },
      duration: { type: "string" },
      sessions: { type: "string" },
      payload: { type: "string" },
      window: { type: "string" },
      every: { type: "string" },
      "same-ids": { type: "boolean" },
      "no-warmup": { type: "boolean" },
      secured: { type: "boolean" },
      runs: { type: "string" },
    },
  });
  const scenario = positionals[0] ?? "";
  if (scenario === "sessions") {
    const r = await runSessions(Number(values.sessions ?? 100_000), 3_600_000);
    process.stdout.write(`\nsessions: ${JSON.stringify(r, null, 1)}\n\n`);
    process.stdout.write(JSON.stringify({ scenario, machine: { cpus: cpus().length, node: process.version }, results: r }) + "\n");
    return;
  }
  if (scenario === "idle") {
    const rows = await runIdle(Number(values.runs ?? 3));
    const table = textTable(
      ["ready ms", "cpu to ready ms", "rss 10 s MB", "rss 70 s MB"],
      rows.map((x) => [x.readyMs, x.cpuToReadyMs, x.rss10sMB, x.rss70sMB]),
    );
    process.stdout.write(`\nidle (a node with nothing configured, embedded nats-server)\n${table}\n\n`);
    process.stdout.write(JSON.stringify({ scenario, machine: { cpus: cpus().length, node: process.version }, rows }) + "\n");
    return;
  }
  if (scenario === "sessions-burst") {
    const sessions = Number(values.sessions ?? 1000);
    const rate = Number(values.rate ?? 1000);
    const runs = Number(values.runs ?? 3);
    const rows: BurstRow[] = [];
    // each run starts both targets afresh: one p99 of 1,000 messages moves by 2–3× between identical runs
    for (let run = 1; run <= runs; run++) {
      for (const start of [startBaselineTarget, () => startClawTarget(1, envFromBench())]) {
        const target = await start();
        try {
          rows.push(...(await runBurst(target, sessions, rate, run)));
        } finally {
          await target.stop();
        }
      }
    }
    const table = textTable(
      ["run", "target", "phase", "p50 ms", "p90", "p99", "max", "lost", "dup", "s", "cpu ms/msg", "nats cpu ms/msg"],
      rows.map((x) => [
        x.run,
        x.target,
        x.phase,
        x.p50Ms,
        x.p90Ms,
        x.p99Ms,
        x.maxMs,
        x.lost,
        x.duplicates,
        x.seconds,
        x.cpuMsPerMessage,
        x.natsCpuMsPerMessage,
      ]),
    );
    const ratios = burstRatios(rows);
    process.stdout.write(
      `\nsessions-burst (${sessions} chats per phase at ${rate} msg/s, ${runs} run${runs === 1 ? "" : "s"})\n${table}\n` +
        Object.entries(ratios)
          .map(
            ([t, r]) =>
              `${t}: p99 cold new ÷ known again ${r.coldNewOverKnownP99.join(" · ")} (median ${r.median.coldNewOverKnownP99}), ` +
              `warm new ÷ known again ${r.warmNewOverKnownP99.join(" · ")} (median ${r.median.warmNewOverKnownP99})\n`,
          )
          .join("") +
        rows
          .filter((x) => x.attribution && x.run === runs)
          .map((x) => `${x.target}, ${x.phase}: ${x.attribution}\n`)
          .join("") +
        "\n",
    );
    process.stdout.write(
      JSON.stringify({
        scenario,
        machine: { cpus: cpus().length, node: process.version },
        sessions,
        rate,
        runs,
        ratios,
        rows: rows.map(({ attribution: _a, ...x }) => x),
      }) + "\n",
    );
    return;
  }
  if (scenario === "promises") {
    const rows = await runPromises(Number(values.runs ?? 5));
    const table = textTable(
      ["promise", "claim ms", "n", "p50 ms", "p99", "max", "over"],
      rows.map((x) => [x.promise, x.claimMs, x.n, x.p50Ms, x.p99Ms, x.maxMs, x.over]),
    );
    process.stdout.write(`\npromises\n${table}\n\n`);
    process.stdout.write(JSON.stringify({ scenario, machine: { cpus: cpus().length, node: process.version }, rows }) + "\n");
    return;
  }
  if (scenario === "skills") {
    const rows = await runSkills(Number(values.sessions ?? 200));
    const table = textTable(
      ["what", "n", "p50 ms", "p99", "max", "errors"],
      rows.map((x) => [x.what, x.n, x.p50Ms, x.p99Ms, x.maxMs, x.errors]),
    );
    process.stdout.write(`\nskills\n${table}\n\n`);
    process.stdout.write(JSON.stringify({ scenario, machine: { cpus: cpus().length, node: process.version }, rows }) + "\n");
    return;
  }
  if (scenario === "llm") {
    const r = await runLlm(Number(values.duration ?? 20), [1, 16]);
    const table = textTable(
      ["target", "concurrency", "turns/s", "p50 ms", "p99", "max", "errors"],
      r.rows.map((x) => [x.target, x.concurrency, x.turnsPerS, x.p50Ms, x.p99Ms, x.maxMs, x.errors]),
    );
    process.stdout.write(
      `\nllm (${values.duration ?? 20} s per run)\n${table}\n` +
        `Claw's own p50 per turn (claw − fake): ${Object.entries(r.overheadP50Ms)
          .map(([c, ms]) => `${ms} ms at ${c}`)
          .join(", ")}; node RSS ${r.nodeRssMB} MB\n` +
        `a new session per request ÷ a session per client, turns/s at 16 clients: ${r.newSessionRatio}\n\n`,
    );
    process.stdout.write(JSON.stringify({ scenario, machine: { cpus: cpus().length, node: process.version }, ...r }) + "\n");
    return;
  }
  if (scenario === "amqp" || scenario === "mqtt") {
    const rate = Number(values.rate ?? 500);
    const durationS = Number(values.duration ?? 20);
    const rows = await runChannelBench(scenario, rate, durationS, Number(values.sessions ?? 100));
    const table = textTable(
      ["target", "msg/s", "p50 ms", "p99", "max", "lost", "dup", "cpu ms/msg", "nats cpu ms/msg"],
      rows.map((x) => [x.target, x.throughput, x.p50Ms, x.p99Ms, x.maxMs, x.lost, x.duplicates, x.cpuMsPerMessage ?? "-", x.natsCpuMsPerMessage ?? "-"]),
    );
    process.stdout.write(`\n${scenario} (open loop at ${rate} msg/s, ${durationS} s)\n${table}\n\n`);
    process.stdout.write(JSON.stringify({ scenario, machine: { cpus: cpus().length, node: process.version }, rate, durationS, rows }) + "\n");
    return;
  }
  if (scenario === "invoke") {
    const durationS = Number(values.duration ?? 20);
    const rows = await runInvoke(durationS, [1, 64], Number(values.payload ?? 300), { secured: values.secured === true });
    const table = textTable(
      ["target", "clients", "req/s", "p50 ms", "p99", "max", "errors", "cpu ms/req", "nats cpu ms/req"],
      rows.map((x) => [x.target, x.concurrency, x.perS, x.p50Ms, x.p99Ms, x.maxMs, x.errors, x.cpuMsPerRequest, x.natsCpuMsPerRequest ?? "-"]),
    );
    const at = (t: InvokeRow["target"], c: number) => rows.find((x) => x.target === t && x.concurrency === c)!;
    const ratio = Math.round((at("claw", 64).perS / Math.max(1, at("bare http", 64).perS)) * 100) / 100;
    const p50Gap = Math.round((at("claw", 1).p50Ms - at("bare http", 1).p50Ms) * 100) / 100;
    process.stdout.write(
      `\ninvoke (${durationS} s per run)\n${table}\nclaw ÷ bare http at 64 clients: ${ratio}; p50 at 1 client: claw − bare = ${p50Gap} ms\n\n`,
    );
    process.stdout.write(JSON.stringify({ scenario, machine: { cpus: cpus().length, node: process.version }, ratio, p50GapMs: p50Gap, rows }) + "\n");
    return;
  }
  if (scenario === "grpc") {
    const durationS = Number(values.duration ?? 20);
    const rows = await runGrpc(durationS, [1, 64], Number(values.payload ?? 300));
    const table = textTable(
      ["target", "clients", "req/s", "p50 ms", "p99", "max", "errors", "cpu ms/req", "nats cpu ms/req"],
      rows.map((x) => [x.target, x.concurrency, x.perS, x.p50Ms, x.p99Ms, x.maxMs, x.errors, x.cpuMsPerRequest, x.natsCpuMsPerRequest ?? "-"]),
    );
    const at = (t: GrpcRow["target"], c: number) => rows.find((x) => x.target === t && x.concurrency === c)!;
    const ratio = Math.round((at("grpc Invoke", 64).perS / Math.max(1, at("http invoke", 64).perS)) * 100) / 100;
    const p50Gap = Math.round((at("grpc Invoke", 1).p50Ms - at("http invoke", 1).p50Ms) * 100) / 100;
    process.stdout.write(`\ngrpc (${durationS} s per run)\n${table}\ngrpc ÷ http at 64 clients: ${ratio}; p50 at 1 client: grpc − http = ${p50Gap} ms\n\n`);
    process.stdout.write(JSON.stringify({ scenario, machine: { cpus: cpus().length, node: process.version }, ratio, p50GapMs: p50Gap, rows }) + "\n");
    return;
  }
  if (scenario === "churn") {
    const load = shape(values, { kind: "open", rate: Number(values.rate ?? 250) }, 36, 60);
    const clawEnv = Object.fromEntries(
      (process.env.BENCH_CLAW_ENV ?? "")
        .split(" ")
        .filter(Boolean)
        .map((kv) => kv.split("=") as [string, string]),
    );
    const base = await startBaselineTarget();
    process.stderr.write("churn: baseline …\n");
    const baseline = await measure(base, load).finally(() => base.stop());
    process.stderr.write("churn: claw×3, one node SIGKILLed and restarted every few seconds …\n");
    const r = await runChurn(load, Number(values.every ?? 3), clawEnv, { sameIds: values["same-ids"] === true });
    const { timeline, slowest: _s, ...claw } = r.load;
    process.stdout.write(
      `\nchurn (${JSON.stringify(load.mode)}, ${load.durationS} s, ${r.kills} kills)\n` +
        `baseline p50/p99/max ${baseline.latencyMs.p50}/${baseline.latencyMs.p99}/${baseline.latencyMs.max} ms\n` +
        `claw     p50/p99/max ${claw.latencyMs.p50}/${claw.latencyMs.p99}/${claw.latencyMs.max} ms  lost ${claw.lost}  dup on CLAW_OUT ${claw.duplicates}  ` +
        `core subscriber: ${r.coreReceived} received, ${r.coreDuplicates} replies seen twice\n` +
        `claw p99 per second of send time (ms): ${timeline.map((t) => `${t.s}:${Math.round(t.p99Ms)}`).join(" ")}\n` +
        `slowest messages (ms): where their time went\n` +
        r.slow
          .map(
            (m) =>
              `  ${m.latencyMs} p${m.partition} owner ${m.ownerAtDue}${m.ownerKilled ? ` killed +${m.beforeKillMs}, unowned ${m.unownedMs}, then ${m.afterClaimMs}` : " not killed"}  claims ${m.claims.join(" ")}`,
          )
          .join("\n") +
        "\n\n",
    );
    const { timeline: _bt, slowest: _bs, ...baseRow } = baseline;
    process.stdout.write(
      JSON.stringify({
        scenario,
        load,
        machine: { cpus: cpus().length, node: process.version },
        results: [baseRow, { target: "claw×3 churn", ...claw, kills: r.kills, coreReceived: r.coreReceived, coreDuplicates: r.coreDuplicates }],
        slow: r.slow,
      }) + "\n",
    );
    return;
  }
  const make = scenario === "nodes" || scenario === "observe" ? SCENARIOS.max : scenario === "http" ? SCENARIOS.steady : SCENARIOS[scenario];
  if (!make)
    throw new Error(
      `unknown scenario "${scenario}"; available: ${[...Object.keys(SCENARIOS), "sessions", "sessions-burst", "idle", "nodes", "observe", "http", "invoke", "grpc", "amqp", "mqtt", "churn", "llm", "skills", "promises"].join(", ")}`,
    );
  const load = make(values);
  const rows: Row[] = [];
  // BENCH_CLAW_ENV="CLAW_TRANSCRIPTS=off …" passes settings to the Claw node(s)
  const clawEnv = Object.fromEntries(
    (process.env.BENCH_CLAW_ENV ?? "")
      .split(" ")
      .filter(Boolean)
      .map((kv) => kv.split("=") as [string, string]),
  );
  const counts = scenario === "nodes" ? [1, 2, 3] : scenario === "failover" ? [2] : [1];
  type Run = { start: () => Promise<RunningTarget>; observe?: (url: string) => Promise<Observer>; name?: string; load?: (t: RunningTarget) => LoadOptions };
  const killAtS = Math.round(load.durationS / 3);
  const clawLoad = (t: RunningTarget): LoadOptions => {
    if (scenario === "http") return { ...load, transport: "http", graceS: 30 };
    if (scenario === "failover")
      return { ...load, events: [{ atS: killAtS, name: "SIGKILL claw node 2", run: async () => void t.workers[1]!.kill("SIGKILL") }] };
    return load;
  };
  // slow-turn lines only where they explain something: in a closed loop every turn waits behind the window, and logging each costs CPU
  if (load.mode.kind === "closed") clawEnv.CLAW_SLOW_TURN_MS ??= "0";
  const runs: Run[] = [{ start: startBaselineTarget }, ...counts.map((n) => ({ start: () => startClawTarget(n, clawEnv), load: clawLoad }))];
  let sink: Awaited<ReturnType<typeof startOtlpSink>> | undefined;
  if (scenario === "observe") {
    sink = await startOtlpSink();
    const otlp = sink.url;
    runs.push(
      { name: "claw watched", start: () => startClawTarget(1, clawEnv), observe: watchAllActors },
      { name: "claw traced", start: () => startClawTarget(1, { ...clawEnv, OTEL_EXPORTER_OTLP_ENDPOINT: otlp }), observe: async () => sink!.observer() },
    );
  }
  for (const run of runs) {
    const target = await run.start();
    if (run.name) target.name = run.name;
    process.stderr.write(`${scenario}: ${target.name} …\n`);
    try {
      rows.push(await measure(target, run.load?.(target) ?? load, run.observe));
    } finally {
      await target.stop();
    }
  }
  await sink?.close();
  const [base, claw] = rows as [Row, Row];
  const ratio = Math.round((claw.throughput / Math.max(1, base.throughput)) * 100) / 100;
  for (const r of rows) r.cpuMsPerMessage = Math.round(((r.cpuWorkerS * 1000) / Math.max(1, r.received)) * 1000) / 1000;
  const failover = scenario === "failover" ? { killAtS, claw: recovery(claw, killAtS) } : undefined;
  const costs = rows
    .slice(2)
    .map((r) => `${r.target}: ${Math.round((1 - r.throughput / Math.max(1, claw.throughput)) * 1000) / 10} % less throughput than claw`);
  process.stdout.write(
    `\n${scenario} (${JSON.stringify(load.mode)}, ${load.durationS} s, ${load.sessions} sessions, ${load.payloadBytes} B)\n${table(rows)}\nclaw ÷ ` +
      `baseline throughput: ${ratio}\n${scenario === "observe" ? costs.join("\n") + "\n" : ""}${failover ? `failover: ${JSON.stringify(failover)}\n` : ""}${rows.map((r) => (r.warmup ? `${r.target} cold start (warm-up, not in the table: the first message of each of ${r.warmup.sessions} new sessions, 1,000/s): p50 ${r.warmup.p50Ms} ms, p99 ${r.warmup.p99Ms} ms, max ${r.warmup.maxMs} ms, ${r.warmup.answered} answered in ${r.warmup.seconds} s\n` : "")).join("")}${rows.map((r) => (r.attribution ? `${r.target}: ${r.attribution}\n` : "")).join("")}${load.mode.kind === "open" ? rows.map((r) => `${r.target} p99 per second of send time (ms): ${r.timeline.map((t) => `${t.s}:${Math.round(t.p99Ms)}`).join(" ")}\n`).join("") : ""}\n`,
  );
  process.stdout.write(
    JSON.stringify({
      scenario,
      load,
      machine: { cpus: cpus().length, node: process.version },
      ratio,
      failover,
      results: rows.map(({ timeline: _t, slowest: _s, attribution: _a, ...r }) => r),
    }) + "\n",
  );
}

main().then(
  // a bench run is over when it has printed its JSON: nothing it leaves open (sockets kept alive) may hold it
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
