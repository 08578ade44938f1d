/**
 * Private brokers for channel tests, as child processes on free ports with
 * their state in a temp dir: Mosquitto (ms to start) and RabbitMQ (a few
 * seconds). Each can be stopped gracefully and started again on the same
 * port and state (a broker restart mid-stream), and is removed at the end.
 * Nothing of the machine's own brokers is used or touched.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../src/bus/index.js";

/** A broker the test owns. */
export interface Broker extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  /** stops it gracefully (its state kept) */
  stop(): Promise<void>;
  /** starts it again on the same port and state */
  start(): Promise<void>;
  /** what it printed, for a failure message */
  output(): string;
}

function which(name: string, extra: string[] = []): string | undefined {
  for (const d of (process.env.PATH ?? "").split(":").concat(["/usr/bin", "/usr/sbin", "/bin", "/sbin"], extra)) {
    if (d && existsSync(join(d, name))) return join(d, name);
  }
  return undefined;
}

/** Why a broker cannot run here (its binary is missing), or undefined. */
export function brokerMissing(kind: "mosquitto" | "rabbitmq" | "kafka"): string | undefined {
  if (kind === "kafka")
    return which("kcat") ? undefined : "kcat is not installed (apt-get install kcat): its librdkafka mock cluster is the Kafka of the tests";
  if (kind === "mosquitto") return which("mosquitto") ? undefined : "mosquitto is not installed (apt-get install mosquitto mosquitto-clients)";
  return which("rabbitmq-server") ? undefined : "rabbitmq-server is not installed (apt-get install rabbitmq-server amqp-tools)";
}

/** Resolves once something accepts TCP connections on `port`. */
async function untilListening(port: number, timeoutMs: number, alive: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        r(true);
      });
      s.once("error", () => r(false));
    });
    if (ok) return;
    if (!alive()) throw new Error(`the broker exited before listening on ${port}:\n${what()}`);
    if (Date.now() > deadline) throw new Error(`the broker did not listen on ${port} within ${timeoutMs} ms:\n${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The {@link Broker} of a started broker process: its state dir goes with it. */
function broker(url: string, port: number, dir: string, start: () => Promise<void>, stop: () => Promise<void>, output: () => string): Broker {
  return {
    url,
    port,
    stop,
    start,
    output,
    async [Symbol.asyncDispose]() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once("exit", () => r()));
}

/** Mosquitto on a free port, anonymous, persisting its sessions in a temp dir. */
export async function startMosquitto(): Promise<Broker> {
  const bin = which("mosquitto");
  if (!bin) throw new Error(brokerMissing("mosquitto"));
  const dir = await mkdtemp(join(tmpdir(), "claw-mosquitto-"));
  const port = await freePort();
  const conf = join(dir, "mosquitto.conf");
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      "set_tcp_nodelay true",
      "persistence true",
      `persistence_location ${dir}/`,
      "log_dest stdout",
      "log_type error",
      "log_type warning",
      "log_type notice",
      "",
    ].join("\n"),
  );
  // mosquitto run as root drops to the user "mosquitto", which must be able to write the persistence file
  if (process.getuid?.() === 0) {
    const id = spawnSync("id", ["-u", "mosquitto"]).stdout?.toString().trim();
    if (id) await chown(dir, Number(id), 0).catch(() => undefined);
  }
  let child: ChildProcess | undefined;
  let text = "";
  const start = async () => {
    const c = spawn(bin, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    c.stdout!.on("data", (b: Buffer) => (text += b.toString()));
    c.stderr!.on("data", (b: Buffer) => (text += b.toString()));
    await untilListening(
      port,
      10_000,
      () => c.exitCode === null,
      () => text,
    );
  };
  const stop = async () => {
    const c = child;
    if (!c) return;
    c.kill("SIGTERM");
    await exited(c);
    child = undefined;
  };
  await start();
  return broker(`mqtt://127.0.0.1:${port}`, port, dir, start, stop, () => text);
}

/**
 * RabbitMQ as its own node (`claw-test-<port>@localhost`) on free ports, its
 * database and logs in a temp dir. Debian's `rabbitmq-server` runs the
 * broker as the user `rabbitmq` when started as root: the dir is theirs then.
 */
export async function startRabbitMq(): Promise<Broker> {
  const bin = which("rabbitmq-server");
  if (!bin) throw new Error(brokerMissing("rabbitmq"));
  const dir = await mkdtemp(join(tmpdir(), "claw-rabbitmq-"));
  const [port, distPort] = [await freePort(), await freePort()];
  await mkdir(join(dir, "log"));
  await writeFile(join(dir, "enabled_plugins"), "[].\n");
  if (process.getuid?.() === 0) {
    const uid = spawnSync("id", ["-u", "rabbitmq"]).stdout?.toString().trim();
    if (uid) for (const p of [dir, join(dir, "log"), join(dir, "enabled_plugins")]) await chown(p, Number(uid), 0);
  }
  const node = `claw-test-${port}@localhost`;
  const env = {
    ...process.env,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
    RABBITMQ_LOG_BASE: join(dir, "log"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
    RABBITMQ_PID_FILE: join(dir, "rabbit.pid"),
    RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq"),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, "advanced.config"),
  };
  let child: ChildProcess | undefined;
  let text = "";
  const start = async () => {
    const c = spawn(bin, [], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    child = c;
    c.stdout!.on("data", (b: Buffer) => (text = (text + b.toString()).slice(-20_000)));
    c.stderr!.on("data", (b: Buffer) => (text = (text + b.toString()).slice(-20_000)));
    await untilListening(
      port,
      60_000,
      () => c.exitCode === null,
      () => text,
    );
  };
  const stop = async () => {
    const c = child;
    if (!c) return;
    // the broker (beam) is a grandchild behind su and sh: SIGTERM to its pid stops it gracefully
    const pid = Number((await readFile(join(dir, "rabbit.pid"), "utf8").catch(() => "")).trim());
    if (pid > 0) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        /* gone */
      }
    } else if (c.pid) {
      try {
        process.kill(-c.pid, "SIGTERM");
      } catch {
        /* gone */
      }
    }
    const killed = setTimeout(() => c.pid && process.kill(-c.pid, "SIGKILL"), 20_000);
    await exited(c);
    clearTimeout(killed);
    child = undefined;
  };
  await start();
  return broker(`amqp://guest:guest@127.0.0.1:${port}`, port, dir, start, stop, () => text);
}

/** A Kafka cluster of the tests: librdkafka's mock cluster, held by a kcat process. */
export interface KafkaMock extends AsyncDisposable {
  /** `host:port` bootstrap servers */
  readonly brokers: string[];
}

/**
 * librdkafka's built-in mock cluster (a Kafka-protocol implementation by the
 * librdkafka authors), started by a kcat consumer that prints its bootstrap
 * servers; it lives as long as that process. It cannot be restarted with its
 * state: a broker restart is not testable on it.
 */
export async function startKafkaMock(brokers = 1): Promise<KafkaMock> {
  const bin = which("kcat");
  if (!bin) throw new Error(brokerMissing("kafka"));
  const child = spawn(bin, ["-X", `test.mock.num.brokers=${brokers}`, "-b", "127.0.0.1:1", "-C", "-t", "_claw_mock", "-d", "mock"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let text = "";
  const servers = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no mock cluster within 10 s:\n${text.slice(-2000)}`)), 10_000);
    child.stderr!.on("data", (b: Buffer) => {
      text += b.toString();
      const m = /bootstrap\.servers=([0-9.:,]+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!.split(","));
      }
    });
    child.once("exit", (code) => reject(new Error(`kcat exited with ${code}:\n${text.slice(-2000)}`)));
  });
  // keep draining its debug output
  child.stderr!.removeAllListeners("data");
  child.stderr!.resume();
  return {
    brokers: servers,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await exited(child);
    },
  };
}
