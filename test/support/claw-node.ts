/**
 * Claw nodes as child processes (`node dist/node.js`), the way users run them:
 * wait for the start line, read the HTTP port, send signals, read the log.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const NODE_JS = fileURLToPath(new URL("../../dist/node.js", import.meta.url));

/** A running node process. */
export interface ClawProcess extends AsyncDisposable {
  readonly child: ChildProcess;
  readonly httpPort: number;
  /** the gRPC server's port (undefined when it is off, or for an older build without one) */
  readonly grpcPort: number | undefined;
  /** every log line so far (pino JSON parsed) */
  readonly logs: Array<Record<string, unknown>>;
  /** stdout + stderr text so far */
  output(): string;
  /** resolves with the lines matching `pred` once there are at least `count` of them (the log is written asynchronously) */
  waitForLogs(pred: (line: Record<string, unknown>) => boolean, count?: number, timeoutMs?: number): Promise<Array<Record<string, unknown>>>;
  /** send a signal and wait for the exit code */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Options of {@link startClaw}. */
export interface StartClawOptions {
  env: Record<string, string>;
  /** ms to wait for "claw node started" (default 20 s) */
  timeoutMs?: number;
  /** another build's entry point (an older version's `dist/node.js`) */
  script?: string;
  /**
   * "serving" (default): wait until the node has started; "listening": only
   * until its HTTP port answers, while it may still wait (for its NATS cluster to form)
   */
  until?: "serving" | "listening";
}

/** The log line each {@link StartClawOptions.until} waits for (both carry the HTTP address). */
const START_LINES = { serving: "claw node started", listening: "starting: /healthz and /readyz answer while the node starts" };

// nodes a failed test did not stop must not outlive the test file's process
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});

/** Spawns a node and waits until it has started (or rejects with its output). */
export async function startClaw(o: StartClawOptions): Promise<ClawProcess> {
  const child = spawn(process.execPath, [o.script ?? NODE_JS], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", CLAW_HTTP_PORT: "0", CLAW_GRPC_PORT: "0", CLAW_LOG_LEVEL: "info", ...o.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let text = "";
  const logs: Array<Record<string, unknown>> = [];
  let partial = "";
  child.stdout!.on("data", (b: Buffer) => {
    text += b.toString();
    partial += b.toString();
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) {
      try {
        logs.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        /* not a log line */
      }
    }
  });
  child.stderr!.on("data", (b: Buffer) => (text += b.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(poll);
      // a node that did not start is not left running behind the failed test (a test file's process may live on)
      child.kill("SIGKILL");
      reject(new Error(`node did not start within ${o.timeoutMs ?? 20_000} ms:\n${text}`));
    }, o.timeoutMs ?? 20_000);
    const poll = setInterval(() => {
      const line = logs.find((l) => l.msg === START_LINES[o.until ?? "serving"]);
      if (line) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve(line);
      }
    }, 10);
    void exited.then((code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`node exited with ${code} before starting:\n${text}`));
    });
  });
  const httpPort = Number(new URL(String(started.http)).port);
  // every node a test starts takes a free gRPC port of its own (files run in parallel): 50051 is nobody's
  const grpcPort = typeof started.grpc === "string" ? Number(started.grpc.slice(started.grpc.lastIndexOf(":") + 1)) : undefined;
  const kill = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    return exited;
  };
  return {
    child,
    httpPort,
    grpcPort,
    logs,
    output: () => text,
    async waitForLogs(pred, count = 1, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logs.filter(pred);
        if (found.length >= count) return found;
        if (Date.now() > deadline) throw new Error(`expected ${count} matching log lines, found ${found.length}:\n${text.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    kill,
    [Symbol.asyncDispose]: async () => {
      await kill("SIGKILL");
    },
  };
}

/** Runs a node expected to end by itself (to fail at start, or to kill itself at a failpoint); resolves with how it exited and its output. */
export async function runClawExpectingFailure(
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const child = spawn(process.execPath, [NODE_JS], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", CLAW_HTTP_PORT: "0", CLAW_GRPC_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (b: Buffer) => (output += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (output += b.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once("exit", (c, s) => r([c, s])));
  clearTimeout(timer);
  return { code, signal, output };
}
