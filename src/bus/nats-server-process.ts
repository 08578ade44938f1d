/**
 * Runs `nats-server` as a child process: the embedded default of `claw start`,
 * and the real server every integration test and benchmark starts on a free
 * loopback port with a temporary store.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { NatsServerStartError } from "./errors.js";
import { DEFAULT_PARTITIONS, partitionMappingConf } from "./partition.js";

/** Options of {@link startNatsServer}. */
export interface NatsServerOptions {
  /** client port; 0 picks a free one (default 0) */
  port?: number;
  /** JetStream store directory; default a fresh temp dir, removed on stop */
  storeDir?: string;
  /** install Claw's inbound partition mapping (default true) */
  partitionMapping?: boolean;
  partitions?: number;
  /** cluster settings, when this server is one of several */
  cluster?: { name: string; port: number; routes: number[]; serverName: string };
  /** JetStream's file store limit, in nats-server's units (`16MB`); unlimited when absent */
  maxFileStore?: string;
  /** extra nats-server configuration text appended verbatim */
  extraConfig?: string;
  /** path of the binary (default: `nats-server` on PATH, then /usr/sbin, /usr/local/bin) */
  binary?: string;
  /** pipe the server's log to this process' stderr */
  verbose?: boolean;
  /** ms to wait for the server to accept clients (default 10 s) */
  startTimeoutMs?: number;
}

/** How a nats-server process ended. */
export interface NatsServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running nats-server child. Dispose with `await using` or {@link NatsServerProcess.stop}. */
export interface NatsServerProcess extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  readonly pid: number | undefined;
  /** true while the server process runs */
  readonly running: boolean;
  /** resolves when the current server process exits, however it ends */
  exited(): Promise<NatsServerExit>;
  /** what the server said last that explains a failure: its fatal and error lines, or its last lines */
  output(): string;
  /** SIGTERM (or the given signal) and wait for exit; keeps the store */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** start again on the same port and store after a kill */
  restart(): Promise<void>;
  /**
   * Resolves when the server's `/healthz` says ok: for a clustered JetStream
   * server, when every stream and consumer it holds has caught up.
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** stop and remove the temp store (if we created it) */
  stop(): Promise<void>;
}

const INSTALL_HINT =
  "nats-server was not found. Install it (Debian/Ubuntu: `sudo apt-get install -y nats-server`, " +
  "or download from https://github.com/nats-io/nats-server/releases) or set NATS_URL to a running server.";

/** Finds the nats-server binary or returns undefined. */
export function findNatsServerBinary(explicit?: string): string | undefined {
  if (explicit) return existsSync(explicit) ? explicit : undefined;
  const dirs = (process.env.PATH ?? "").split(delimiter).concat(["/usr/sbin", "/usr/local/bin", "/usr/bin"]);
  for (const d of dirs) {
    const p = join(d, "nats-server");
    if (d && existsSync(p)) return p;
  }
  return undefined;
}

/** A free TCP port on 127.0.0.1 (bound then released; small race, fine for loopback tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

function configText(o: NatsServerOptions, port: number, storeDir: string, portsDir: string): string {
  const lines = [
    `listen: "127.0.0.1:${port}"`,
    `ports_file_dir: "${portsDir}"`,
    `jetstream { store_dir: "${storeDir}"${o.maxFileStore ? `, max_file_store: ${o.maxFileStore}` : ""} }`,
    `max_payload: 8MB`,
    // monitoring on a free port: /healthz tells when JetStream has caught up after a restart
    `http: "127.0.0.1:-1"`,
  ];
  if (o.cluster) {
    lines.push(`server_name: "${o.cluster.serverName}"`);
    lines.push(
      `cluster { name: "${o.cluster.name}", listen: "127.0.0.1:${o.cluster.port}", routes: [${o.cluster.routes
        .map((r) => `"nats-route://127.0.0.1:${r}"`)
        .join(", ")}] }`,
    );
  }
  if (o.partitionMapping ?? true) lines.push(partitionMappingConf(o.partitions ?? DEFAULT_PARTITIONS));
  if (o.extraConfig) lines.push(o.extraConfig);
  return lines.join("\n") + "\n";
}

/**
 * The lines of a server's log that explain a failure: its `[FTL]` and `[ERR]`
 * lines (the last 3), or else its last 3 lines, without the pid and time prefix.
 */
export function explainServerOutput(output: string): string {
  const lines = output.trim().split("\n").filter(Boolean);
  const bad = lines.filter((l) => l.includes("[FTL]") || l.includes("[ERR]"));
  return (bad.length > 0 ? bad : lines)
    .slice(-3)
    .map((l) => l.replace(/^\[\d+\] \S+ \S+ /, ""))
    .join("\n");
}

function parsePorts(text: string): { nats?: string[]; monitoring?: string[] } | undefined {
  try {
    return JSON.parse(text) as { nats?: string[]; monitoring?: string[] };
  } catch {
    return undefined;
  }
}

async function waitForPort(portsDir: string, child: ChildProcess, timeoutMs: number, log: () => string): Promise<{ port: number; monitor?: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new NatsServerStartError(`nats-server exited early (code ${child.exitCode}): ${explainServerOutput(log())}`);
    }
    const files = await readdir(portsDir).catch(() => [] as string[]);
    const f = files.find((n) => n.endsWith(".ports") && n.includes(`_${child.pid}.`));
    if (f) {
      // the server may still be writing the file: an incomplete one is read again on the next round
      const ports = parsePorts(await readFile(join(portsDir, f), "utf8"));
      const u = ports?.nats?.[0];
      if (u) return { port: Number(new URL(u).port), monitor: ports?.monitoring?.[0] };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new NatsServerStartError(`nats-server did not report its port within ${timeoutMs} ms: ${explainServerOutput(log())}`);
}

/** Starts one nats-server with JetStream. Throws {@link NatsServerStartError} if the binary is missing. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerProcess> {
  const binary = findNatsServerBinary(options.binary);
  if (!binary) throw new NatsServerStartError(INSTALL_HINT);
  const ownStore = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), "claw-nats-")));
  await mkdir(storeDir, { recursive: true });
  const portsDir = await mkdtemp(join(tmpdir(), "claw-nats-ports-"));
  let port = options.port ?? 0;
  let child: ChildProcess | undefined;
  let exit: Promise<NatsServerExit> = Promise.resolve({ code: null, signal: null });
  let output = "";
  let monitor: string | undefined;

  const launch = async (): Promise<void> => {
    const conf = join(portsDir, "nats.conf");
    await writeFile(conf, configText(options, port === 0 ? -1 : port, storeDir, portsDir));
    output = "";
    const c = spawn(binary, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    exit = new Promise((r) => c.once("exit", (code, signal) => r({ code, signal })));
    const collect = (b: Buffer) => {
      output = (output + b.toString()).slice(-8192);
      if (options.verbose) process.stderr.write(b);
    };
    c.stdout?.on("data", collect);
    c.stderr?.on("data", collect);
    const spawnError = new Promise<never>((_, reject) =>
      c.once("error", (e) => reject(new NatsServerStartError(`cannot run ${binary}: ${e.message}`, { cause: e }))),
    );
    ({ port, monitor } = await Promise.race([waitForPort(portsDir, c, options.startTimeoutMs ?? 10_000, () => output), spawnError]));
  };

  const kill = async (signal: NodeJS.Signals = "SIGTERM"): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = exit;
    c.kill(signal);
    const t = setTimeout(() => c.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(t);
    // nats-server leaves its ports file behind on SIGKILL; a stale one would confuse the next launch
    for (const f of await readdir(portsDir).catch(() => [] as string[])) {
      if (f.endsWith(".ports")) await rm(join(portsDir, f), { force: true });
    }
  };

  await launch();
  const stop = async () => {
    await kill("SIGTERM");
    await rm(portsDir, { recursive: true, force: true });
    if (ownStore) await rm(storeDir, { recursive: true, force: true });
  };
  return {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    storeDir,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    exited: () => exit,
    output: () => explainServerOutput(output),
    kill,
    restart: launch,
    async waitHealthy(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last = "no answer";
      while (Date.now() < deadline) {
        if (monitor) {
          try {
            const r = await fetch(`${monitor}/healthz`, { signal: AbortSignal.timeout(1_000) });
            if (r.ok) return;
            last = `${r.status} ${await r.text()}`;
          } catch (e) {
            last = (e as Error).message;
          }
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new NatsServerStartError(`nats-server on port ${port} is not healthy after ${timeoutMs} ms: ${last}`);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Options of {@link startNatsCluster}. */
export type NatsClusterOptions = Omit<NatsServerOptions, "port" | "storeDir" | "cluster">;

/**
 * Starts `n` nats-servers clustered on loopback (JetStream R≤n), each with its
 * own free client and route ports and temp store. Resolves when all accept clients.
 */
export async function startNatsCluster(n: number, o: NatsClusterOptions = {}): Promise<NatsServerProcess[]> {
  return Promise.all((await natsClusterPlan(n, o)).map((server) => startNatsServer(server)));
}

/**
 * The options of `n` clustered nats-servers on loopback (free client and
 * route ports, each routed to all), to start one by one: a cluster that
 * forms while its clients already run. Their URLs are known before any starts.
 */
export async function natsClusterPlan(n: number, o: NatsClusterOptions = {}): Promise<Array<NatsServerOptions & { port: number; url: string }>> {
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < n; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
  }
  const name = `claw-test-${process.pid}-${clientPorts[0]}`;
  return clientPorts.map((port, i) => ({
    ...o,
    port,
    url: `nats://127.0.0.1:${port}`,
    cluster: { name, port: routePorts[i]!, routes: routePorts, serverName: `s${i + 1}` },
  }));
}
