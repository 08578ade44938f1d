/**
 * Where a node's NATS is: the configured servers, or the embedded default — a
 * local nats-server the node starts itself when nothing answers on the
 * default port.
 */
import { join } from "node:path";
import { natsAnswers, parseServers, startNatsServer, type NatsServerProcess } from "../bus/index.js";
import type { Logger } from "../log.js";
import { NatsServerExitedError } from "./errors.js";
import type { ChildSpec } from "./supervisor.js";

/** The servers to connect to, and the embedded server when the node started one. */
export interface NatsEndpoint {
  servers: string[];
  embedded?: NatsServerProcess;
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
