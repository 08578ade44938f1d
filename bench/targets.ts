/**
 * What a benchmark runs against, each on its own fresh nats-server: a Claw
 * node (`node dist/node.js`) or the raw-JetStream baseline worker.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { BUCKETS, startNatsServer, type NatsServerProcess } from "../src/bus/index.js";
import { readAssignment } from "../src/supervisors/cluster-leader.js";
import { claimKey, type Claim } from "../src/supervisors/partition-claims.js";
import type { Target } from "./load-generator.js";

/** Where a slow message's time went, as its node logged it (`slow turn`, ms). */
export interface SlowTurn {
  pickupMs: number;
  sessionMs: number;
  endToEndMs: number;
  timing?: {
    queueMs: number;
    /** the session was not in memory: its KV lookup (a miss when new) and its actor's creation */
    spawn?: { loadMs: number; createMs: number; restored: boolean };
    effects: Record<string, number>;
    snapshotMs: number;
    /** the snapshot write created the session's key */
    firstSnapshot?: boolean;
    tries: number;
  };
}

/** How slow a turn must be for the bench's nodes to log where its time went. */
const SLOW_TURN_MS = 20;

/** A started target with the processes whose CPU counts. */
export interface RunningTarget extends Target {
  nats: NatsServerProcess;
  /** the Claw node(s) or the baseline worker */
  workers: ChildProcess[];
  /** Claw targets: the node's own account of each slow turn it logged (`slow turn`), by message id */
  slowTurns?: Map<string, SlowTurn>;
  /** Claw targets: the first node's gRPC address (`host:port`) */
  grpcAddress?: string;
  /** Claw targets: starts worker `i` again (after it was killed) with its settings, as `nodeId` (default: its old id); resolves when it has started */
  restart?(i: number, nodeId?: string): Promise<void>;
  stop(): Promise<void>;
}

const root = fileURLToPath(new URL("..", import.meta.url));

/** Resolves with the first line of the child's stdout that contains `needle`. */
function waitForLine(child: ChildProcess, needle: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    let done = false;
    const timer = setTimeout(() => reject(new Error(`no "${needle}" within ${timeoutMs} ms:\n${out.slice(-2000)}`)), timeoutMs);
    child.stdout!.on("data", (b: Buffer) => {
      if (done) return;
      out += b.toString();
      const line = out.split("\n").find((l) => l.includes(needle));
      if (line !== undefined) {
        done = true;
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before "${needle}":\n${out.slice(-2000)}`));
    });
  });
}

async function stopAll(children: ChildProcess[], nats: NatsServerProcess): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once("exit", () => r());
          c.kill("SIGTERM");
          setTimeout(() => c.kill("SIGKILL"), 10_000).unref();
        }),
    ),
  );
  await nats.stop();
}

/**
 * Waits until the assignment names all `nodes` and every partition is claimed
 * by its assigned owner, so a run does not measure the start-up hand-over.
 */
async function waitSettled(url: string, nodes: number, timeoutMs = 60_000): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    const cluster = await new Kvm(jetstream(nc)).open(BUCKETS.cluster);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { assignment } = await readAssignment(cluster);
      if (assignment && assignment.members.length === nodes) {
        const claims = await Promise.all(assignment.owners.map((_, p) => cluster.get(claimKey(p))));
        if (claims.every((c, p) => c && c.operation === "PUT" && c.json<Claim>().node === assignment.owners[p])) return;
      }
      if (Date.now() > deadline) throw new Error(`the ${nodes} nodes did not settle their partitions within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await nc.close();
  }
}

/** Starts a nats-server and `nodes` Claw nodes on it. */
export async function startClawTarget(nodes = 1, env: Record<string, string> = {}, extraNodeArgs: string[] = []): Promise<RunningTarget> {
  // the server's mapping must partition like the nodes do
  const nats = await startNatsServer({ partitions: env.CLAW_PARTITIONS ? Number(env.CLAW_PARTITIONS) : undefined });
  const workers: ChildProcess[] = [];
  const httpUrls: string[] = [];
  const grpcAddresses: Array<string | undefined> = [];
  const slowTurns = new Map<string, SlowTurn>();
  /** Starts node `i` (0-based) as `bench-<i+1>`; resolves with its HTTP address once it has started. */
  const launch = async (i: number, nodeId = `bench-${i + 1}`): Promise<string> => {
    // BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=bench/out" profiles the node(s)
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, ...extraNodeArgs, "dist/node.js"], {
      cwd: root,
      env: {
        ...process.env,
        NATS_URL: nats.url,
        CLAW_HTTP_PORT: "0",
        // every node takes a free gRPC port of its own: several on one host cannot all have 50051
        CLAW_GRPC_PORT: "0",
        CLAW_NODE_ID: nodeId,
        CLAW_LOG_LEVEL: "info",
        CLAW_SLOW_TURN_MS: String(SLOW_TURN_MS),
        ...env,
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    workers[i] = child;
    // BENCH_LOG_DIR=bench/out keeps each node's log (<node id>.log) for a look at what it did
    if (process.env.BENCH_LOG_DIR) child.stdout!.pipe(createWriteStream(join(process.env.BENCH_LOG_DIR, `${nodeId}.log`)));
    const started = await waitForLine(child, "claw node started", 30_000);
    // keep reading stdout so a node that logs a lot never blocks on a full pipe; keep its slow turns
    let partial = "";
    child.stdout!.on("data", (b: Buffer) => {
      const lines = (partial + b.toString()).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line.includes('"slow turn"')) continue;
        const e = JSON.parse(line) as SlowTurn & { msg_id: string };
        slowTurns.set(e.msg_id, { pickupMs: e.pickupMs, sessionMs: e.sessionMs, endToEndMs: e.endToEndMs, timing: e.timing });
      }
    });
    const line = JSON.parse(started) as { http?: string; grpc?: string };
    grpcAddresses[i] = line.grpc;
    return String(line.http);
  };
  for (let i = 0; i < nodes; i++) httpUrls.push(await launch(i));
  await waitSettled(nats.url, nodes);
  return {
    name: nodes === 1 ? "claw" : `claw×${nodes}`,
    inbound: (chat) => `claw.in.bench.a.${chat}`,
    replyStream: "CLAW_OUT",
    replyFilter: "claw.out.bench.>",
    httpUrl: httpUrls[0],
    grpcAddress: grpcAddresses[0],
    slowTurns,
    nats,
    workers,
    restart: async (i, nodeId) => void (await launch(i, nodeId)),
    stop: () => stopAll(workers, nats),
  };
}

/** Starts a nats-server and the baseline worker on it. */
export async function startBaselineTarget(): Promise<RunningTarget> {
  const nats = await startNatsServer({ partitionMapping: false });
  const child = spawn(process.execPath, ["--import", "tsx", "bench/baseline-worker.ts", nats.url], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  await waitForLine(child, "ready", 30_000);
  return {
    name: "baseline",
    inbound: (chat) => `base.a.${chat}`,
    replyStream: "BASE_B",
    replyFilter: "base.b.>",
    nats,
    workers: [child],
    stop: () => stopAll([child], nats),
  };
}

/** The bare-HTTP reference (bench/bare-http-worker.ts) in its own process. */
export async function startBareHttp(): Promise<{ url: string; worker: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/bare-http-worker.ts"], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const line = await waitForLine(child, "listening", 30_000);
  child.stdout!.resume();
  return {
    url: line.split(" ")[1]!.trim(),
    worker: child,
    stop: () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r();
        child.once("exit", () => r());
        child.kill("SIGTERM");
      }),
  };
}
