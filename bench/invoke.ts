/**
 * The `invoke` scenario: `POST /v1/agents/echo/invoke` (a whole turn, the
 * reply in the response) closed loop at concurrency 1 and 64 over keep-alive
 * connections, against a bare Node HTTP server that answers the same requests
 * with the same shape and does nothing else (bench/bare-http-worker.ts), in
 * the same run. The ratio is what the gateway, the bus and the turn cost
 * against HTTP alone; CPU is the server process's (and nats-server's, for Claw).
 * With `--secured`, Claw once more with credentials required (an API key on
 * every request) and a per-key rate limit high enough never to refuse: what
 * checking the key and taking a token from the shared KV bucket cost.
 */
import { writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apiKeyStore } from "../src/auth/index.js";
import { BUCKETS, connectBus } from "../src/bus/index.js";
import { closedLoop, type ClosedLoopResult } from "./closed-loop.js";
import { cpuSeconds, sample } from "./process-stats.js";
import { startBareHttp, startClawTarget } from "./targets.js";

/** One closed-loop run against one target. */
export interface InvokeRow extends ClosedLoopResult {
  target: "bare http" | "claw" | "claw, key + rate limit";
  /** CPU ms per request: the server process (the node, or the bare server) */
  cpuMsPerRequest: number;
  /** Claw: nats-server's CPU ms per request */
  natsCpuMsPerRequest?: number;
}

/** POSTs `body` to `url` on `agent`; resolves on a 200, rejects otherwise. */
function post(agent: Agent, url: URL, body: string, headers: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers } },
      (res) => {
        res.resume();
        res.once("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.once("error", reject);
    req.end(body);
  });
}

/** One closed loop of `POST /v1/agents/echo/invoke` at `base`, one session per client; CPU per request of `pids` (the server, then nats-server). */
export async function runHttpInvoke<T extends string>(
  target: T,
  base: string,
  pids: number[],
  concurrency: number,
  seconds: number,
  payloadBytes: number,
  headers: Record<string, string> = {},
): Promise<Omit<InvokeRow, "target"> & { target: T }> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const url = new URL("/v1/agents/echo/invoke", base);
  const text = "x".repeat(payloadBytes);
  // one session per client (a client's turns are in order, as a user's are); warm the sessions and the connections first
  await closedLoop(concurrency, 1, (w) => post(agent, url, JSON.stringify({ text, session: `bench-${w}` }), headers));
  const before = await Promise.all(pids.map(sample));
  const r = await closedLoop(concurrency, seconds, (w) => post(agent, url, JSON.stringify({ text, session: `bench-${w}` }), headers));
  const after = await Promise.all(pids.map(sample));
  agent.destroy();
  const perRequest = (i: number) => Math.round(((cpuSeconds(before[i], after[i]) * 1000) / Math.max(1, r.requests)) * 1000) / 1000;
  return { target, ...r, cpuMsPerRequest: perRequest(0), natsCpuMsPerRequest: pids.length > 1 ? perRequest(1) : undefined };
}

/** Runs the scenario: `seconds` per run, at each concurrency, bare server first. */
export async function runInvoke(seconds: number, concurrencies: number[], payloadBytes: number, o: { secured?: boolean } = {}): Promise<InvokeRow[]> {
  const rows: InvokeRow[] = [];
  const bare = await startBareHttp();
  try {
    for (const c of concurrencies) {
      process.stderr.write(`invoke: concurrency ${c}: bare http …\n`);
      rows.push(await runHttpInvoke("bare http", bare.url, [bare.worker.pid!], c, seconds, payloadBytes));
    }
  } finally {
    await bare.stop();
  }
  const claw = await startClawTarget(1);
  try {
    for (const c of concurrencies) {
      process.stderr.write(`invoke: concurrency ${c}: claw …\n`);
      rows.push(await runHttpInvoke("claw", claw.httpUrl!, [claw.workers[0]!.pid!, claw.nats.pid!], c, seconds, payloadBytes));
    }
  } finally {
    await claw.stop();
  }
  if (o.secured) {
    const config = join(tmpdir(), `claw-bench-secured-${process.pid}.json`);
    await writeFile(config, JSON.stringify({ agents: [{ id: "echo" }], rateLimits: { key: { perSecond: 1_000_000, burst: 10_000_000 } } }));
    const secured = await startClawTarget(1, { CLAW_AUTH: "required", CLAW_CONFIG: config });
    try {
      const bus = await connectBus({ servers: [secured.nats.url], name: "bench" });
      const key = await apiKeyStore(await bus.kvm.open(BUCKETS.auth)).create({ scopes: ["agents:invoke"] });
      await bus.close();
      await new Promise((r) => setTimeout(r, 500)); // the node's watch has it
      for (const c of concurrencies) {
        process.stderr.write(`invoke: concurrency ${c}: claw with a key and a rate limit …\n`);
        rows.push(
          await runHttpInvoke("claw, key + rate limit", secured.httpUrl!, [secured.workers[0]!.pid!, secured.nats.pid!], c, seconds, payloadBytes, {
            authorization: `Bearer ${key.key}`,
          }),
        );
      }
    } finally {
      await secured.stop();
    }
  }
  return rows;
}
