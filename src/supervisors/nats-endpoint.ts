/**
 * Where a node's NATS is: the configured servers, or the embedded default — a
 * local nats-server the node starts itself when nothing answers on the
 * default port.
 */
import { join } from "node:path";
import { natsAnswers, parseServers, startNatsServer, type NatsServerProcess } from "../bus/index.js";
import type { Logger } from "../log.js";

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
  return { servers: [embedded.url], embedded };
}
