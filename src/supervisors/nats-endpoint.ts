/**
 * Where a node's NATS is: the configured servers, or the embedded default — a
 * local nats-server the node starts itself when nothing answers on the
 * default port, supervised as the node's child — and the node's connection
 * to it.
 */
import { join, resolve } from "node:path";
import { connectBus, natsAnswers, parseServers, redactServers, startNatsServer, within, type Bus, type NatsServerProcess } from "../bus/index.js";
import { ConfigError, type ClawConfig } from "../config.js";
import type { Logger } from "../log.js";
import { NatsServerExitedError } from "./errors.js";
import { defaultRestartIntensity } from "./restart-intensity.js";
import { startSupervisor, type ChildSpec, type Supervisor } from "./supervisor.js";

/** The servers to connect to, and the embedded server when the node started one. */
export interface NatsEndpoint {
  servers: string[];
  embedded?: NatsServerProcess;
}

/** What decides the endpoint, from the configuration. */
export function embeddedDefault(config: ClawConfig): EmbeddedDefault {
  return { natsUrl: config.natsUrl, port: config.embeddedNatsPort, dataDir: resolve(config.dataDir), binary: config.natsServerBin };
}

/** What decides the endpoint. */
export interface EmbeddedDefault {
  natsUrl: string | undefined;
  /** port of the embedded default */
  port: number;
  dataDir: string;
  binary: string | undefined;
}

/**
 * Resolves the NATS endpoint. With `NATS_URL` unset: use 127.0.0.1:<port> if
 * it answers, else start nats-server there with its store under `<dataDir>/nats`.
 */
export async function resolveNatsEndpoint(o: EmbeddedDefault, log: Logger): Promise<NatsEndpoint> {
  if (o.natsUrl) return { servers: parseServers(o.natsUrl) };
  const embeddedPort = o.port;
  const url = `nats://127.0.0.1:${embeddedPort}`;
  if (await natsAnswers(url)) {
    log.info({ url }, "NATS_URL not set; using the NATS server already answering on the default port");
    return { servers: [url] };
  }
  const storeDir = join(o.dataDir, "nats");
  log.info({ port: embeddedPort, storeDir }, "NATS_URL not set and nothing answers on the default port: starting an embedded nats-server");
  const embedded = await startNatsServer({ port: embeddedPort, storeDir, binary: o.binary });
  log.info({ pid: embedded.pid, port: embedded.port }, "embedded nats-server started");
  return { servers: [embedded.url], embedded };
}

/**
 * The embedded nats-server as a supervised child: it runs while the server
 * process runs and fails when the process ends, so the supervisor restarts it
 * — on the same port and store, where JetStream recovers everything it had
 * acknowledged — with backoff, and escalates past the restart intensity.
 */
export function embeddedServerChild(server: NatsServerProcess, log: Logger): ChildSpec {
  return {
    name: "nats-server",
    async run(signal) {
      if (!server.running) {
        await server.restart();
        log.warn({ pid: server.pid, port: server.port, storeDir: server.storeDir }, "embedded nats-server restarted on the same port and store");
      }
      const aborted = new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true }));
      const exit = await Promise.race([server.exited(), aborted]);
      if (signal.aborted || !exit) return;
      throw new NatsServerExitedError(exit, server.output());
    },
  };
}

/** How the node's children are restarted: 200 ms, doubling, at most 5 s between tries. */
export const CHILD_BACKOFF = { baseMs: 200, factor: 2, maxMs: 5_000 };

/**
 * The embedded nats-server under its own supervisor (restarted on the same
 * port and store when it dies; `onEscalate` past the restart intensity), or
 * undefined when the node uses servers it did not start.
 */
export function superviseEmbedded(endpoint: NatsEndpoint, log: Logger, onEscalate: (what: string, err: unknown) => void): Supervisor | undefined {
  if (!endpoint.embedded) return undefined;
  return startSupervisor([embeddedServerChild(endpoint.embedded, log)], {
    intensity: defaultRestartIntensity(),
    backoff: CHILD_BACKOFF,
    onEvent: (e) => log.error(e, e.type),
    onEscalate: (_child, err) => onEscalate("the embedded nats-server", err),
  });
}

/** Connects the node to `endpoint`; a server that cannot be reached is a configuration error. */
export async function connectNode(endpoint: NatsEndpoint, nodeId: string, log: Logger): Promise<Bus> {
  let bus: Bus;
  try {
    bus = await connectBus({
      servers: endpoint.servers,
      name: `claw-${nodeId}`,
      onRetry: (attempt, e) => log.warn({ servers: redactServers(endpoint.servers), attempt, err: e.message }, "NATS did not answer in time; trying again"),
    });
  } catch (e) {
    throw new ConfigError(`cannot connect to NATS at ${redactServers(endpoint.servers).join(",")}: ${(e as Error).message}`);
  }
  log.info({ servers: redactServers(endpoint.servers), server_version: bus.serverVersion }, "connected to NATS");
  return bus;
}

/** Stops the embedded nats-server, if the node started one (the last of a node's stop). */
export async function stopEmbedded(endpoint: NatsEndpoint): Promise<void> {
  await endpoint.embedded?.stop();
}

/** A stop running late: the embedded nats-server, a child process, must not outlive the node. */
export function killEmbedded(endpoint: NatsEndpoint): void {
  void endpoint.embedded?.kill("SIGTERM");
}

/** A stop running late closes the connection without waiting for more than a second. */
export async function closeNow(bus: Bus): Promise<void> {
  if (!bus.nc.isClosed()) await within(bus.nc.close(), 1_000, () => new Error("close")).catch(() => undefined);
}
