/**
 * The `idle` scenario: a node with nothing configured, as `node dist/node.js`
 * starts it — its embedded nats-server (on a free port, a fresh data dir) —,
 * `--runs` times: from the spawn until `/readyz` answers 200, the node's CPU
 * time until then, and its RSS 10 s and 70 s after (V8 gives memory back to
 * the system only once the node has been idle a while).
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** One start. */
export interface IdleRow {
  readyMs: number;
  cpuToReadyMs: number;
  rss10sMB: number;
  rss70sMB: number;
}

const root = fileURLToPath(new URL("..", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

async function rssMB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024);
}

/** user + system CPU of `pid` in ms (clock ticks of 10 ms) */
async function cpuMs(pid: number): Promise<number> {
  const f = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** Starts one node, measures it, stops it. */
async function once(): Promise<IdleRow> {
  const dir = await mkdtemp(join(tmpdir(), "claw-idle-"));
  const t0 = performance.now();
  const child = spawn(process.execPath, ["dist/node.js"], {
    cwd: root,
    env: {
      ...process.env,
      CLAW_EMBEDDED_NATS_PORT: String(await freePort()),
      CLAW_DATA_DIR: dir,
      CLAW_HTTP_PORT: "0",
      CLAW_GRPC_PORT: "0",
      CLAW_NODE_ID: "idle",
      CLAW_LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const started = await new Promise<{ http: string }>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (b: Buffer) => {
        out += b.toString();
        const line = out.split("\n").find((l) => l.includes("claw node started"));
        if (line) resolve(JSON.parse(line) as { http: string });
      });
      child.once("exit", (code) => reject(new Error(`the node exited with ${code}: ${out.slice(-2000)}`)));
    });
    for (;;) {
      const r = await fetch(`${started.http}/readyz`).catch(() => undefined);
      if (r?.status === 200) break;
      await sleep(5);
    }
    const readyMs = Math.round(performance.now() - t0);
    const cpuToReadyMs = await cpuMs(child.pid!);
    await sleep(10_000);
    const rss10sMB = await rssMB(child.pid!);
    await sleep(60_000);
    return { readyMs, cpuToReadyMs, rss10sMB, rss70sMB: await rssMB(child.pid!) };
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs the scenario `runs` times. */
export async function runIdle(runs: number): Promise<IdleRow[]> {
  const rows: IdleRow[] = [];
  for (let i = 0; i < runs; i++) {
    rows.push(await once());
    process.stderr.write(`idle: ${JSON.stringify(rows.at(-1))}\n`);
  }
  return rows;
}
