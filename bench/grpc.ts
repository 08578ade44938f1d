/**
 * The `grpc` scenario: `claw.v1.Claw/Invoke` (a whole turn, the reply in the
 * answer) closed loop at concurrency 1 and 64, beside `POST
 * /v1/agents/echo/invoke` on the same node in the same run, each client in a
 * session of its own. gRPC's clients share one channel (one HTTP/2
 * connection, calls multiplexed), as a gRPC client does; HTTP's a keep-alive
 * pool of as many connections as clients. CPU is the node's and
 * nats-server's, per request.
 */
import { credentials, loadPackageDefinition, type Client, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { CLAW_PROTO } from "../src/grpc/index.js";
import { closedLoop } from "./closed-loop.js";
import { runHttpInvoke, type InvokeRow } from "./invoke.js";
import { cpuSeconds, sample } from "./process-stats.js";
import { startClawTarget } from "./targets.js";

/** One closed-loop run over one transport. */
export type GrpcRow = Omit<InvokeRow, "target"> & { target: "http invoke" | "grpc Invoke" };

type InvokeFn = (req: unknown, cb: (e: ServiceError | null, r?: { text: string }) => void) => void;

/** A `claw.v1.Claw` client on one channel. */
function clawClient(address: string): Client & { Invoke: InvokeFn } {
  const def = loadSync(CLAW_PROTO, { keepCase: true, longs: Number, defaults: true });
  const pkg = loadPackageDefinition(def) as unknown as { claw: { v1: { Claw: new (a: string, c: ReturnType<typeof credentials.createInsecure>) => Client } } };
  return new pkg.claw.v1.Claw(address, credentials.createInsecure()) as Client & { Invoke: InvokeFn };
}

async function runGrpcInvoke(address: string, pids: number[], concurrency: number, seconds: number, payloadBytes: number): Promise<GrpcRow> {
  const client = clawClient(address);
  const text = "x".repeat(payloadBytes);
  const invoke = (w: number) =>
    new Promise<void>((resolve, reject) =>
      client.Invoke({ agent: "echo", text, session: `bench-grpc-${w}` }, (e, r) =>
        e ? reject(e) : r?.text === text ? resolve() : reject(new Error("wrong reply")),
      ),
    );
  // warm the sessions and the channel first, as the HTTP run does
  await closedLoop(concurrency, 1, invoke);
  const before = await Promise.all(pids.map(sample));
  const r = await closedLoop(concurrency, seconds, invoke);
  const after = await Promise.all(pids.map(sample));
  client.close();
  const perRequest = (i: number) => Math.round(((cpuSeconds(before[i], after[i]) * 1000) / Math.max(1, r.requests)) * 1000) / 1000;
  return { target: "grpc Invoke", ...r, cpuMsPerRequest: perRequest(0), natsCpuMsPerRequest: perRequest(1) };
}

/** Runs the scenario on one node: at each concurrency, HTTP then gRPC. */
export async function runGrpc(seconds: number, concurrencies: number[], payloadBytes: number): Promise<GrpcRow[]> {
  const claw = await startClawTarget(1);
  const rows: GrpcRow[] = [];
  try {
    if (!claw.grpcAddress) throw new Error("the node's start line names no gRPC address");
    const pids = [claw.workers[0]!.pid!, claw.nats.pid!];
    for (const c of concurrencies) {
      process.stderr.write(`grpc: concurrency ${c}: http invoke …\n`);
      rows.push(await runHttpInvoke("http invoke", claw.httpUrl!, pids, c, seconds, payloadBytes));
      process.stderr.write(`grpc: concurrency ${c}: grpc Invoke …\n`);
      rows.push(await runGrpcInvoke(claw.grpcAddress, pids, c, seconds, payloadBytes));
    }
  } finally {
    await claw.stop();
  }
  return rows;
}
