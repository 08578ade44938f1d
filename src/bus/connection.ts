/**
 * The NATS connection of a node and its JetStream handles.
 */
import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { createJsPublisher, type JsPublisher } from "./js-publisher.js";

/** How long closing waits for the connection to drain before it closes anyway. */
const DRAIN_BOUND_MS = 5_000;

/** Default server when `NATS_URL` is not set. */
export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

/** A node's bus handles. */
export interface Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  /** JetStream publishes on one shared reply subscription (what the data path publishes with) */
  readonly publisher: JsPublisher;
  readonly jsm: JetStreamManager;
  readonly kvm: Kvm;
  /** nats-server version, e.g. "2.9.10" */
  readonly serverVersion: string;
  close(): Promise<void>;
}

/**
 * How to log in to NATS: credentials in the servers' URLs
 * (`nats://user:password@host:4222`, or `nats://token@host`), else
 * `NATS_CREDS` (a `.creds` file: a user JWT and its nkey seed, as `nsc`
 * writes it), `NATS_TOKEN`, or `NATS_USER` and `NATS_PASSWORD`. Returns the
 * servers without their credentials (what may be logged) and the options.
 */
export function natsCredentials(servers: string[], env: NodeJS.ProcessEnv = process.env): { servers: string[]; auth: Partial<ConnectionOptions> } {
  let auth: Partial<ConnectionOptions> = {};
  const bare = servers.map((s) => {
    const url = new URL(/^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`);
    if (url.username) {
      const user = decodeURIComponent(url.username);
      auth = url.password ? { user, pass: decodeURIComponent(url.password) } : { token: user };
    }
    return /^[a-z]+:\/\//i.test(s) ? `${url.protocol}//${url.host}` : url.host;
  });
  if (Object.keys(auth).length > 0) return { servers: bare, auth };
  if (env.NATS_CREDS) return { servers: bare, auth: { authenticator: credsAuthenticator(readFileSync(env.NATS_CREDS)) } };
  if (env.NATS_TOKEN) return { servers: bare, auth: { token: env.NATS_TOKEN } };
  if (env.NATS_USER) return { servers: bare, auth: { user: env.NATS_USER, pass: env.NATS_PASSWORD ?? "" } };
  return { servers: bare, auth };
}

/** Servers as they may be logged: credentials in a URL are replaced by `***`. */
export function redactServers(servers: string[]): string[] {
  return servers.map((s) => s.replace(/\/\/[^/@]+@/, "//***@"));
}

/** Splits `NATS_URL` style lists (`nats://a:4222,nats://b:4222`). */
export function parseServers(url: string | undefined): string[] {
  return (url ?? DEFAULT_NATS_URL)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Options of {@link connectBus}. */
export interface ConnectBusOptions {
  servers: string[];
  name: string;
  /** ms; the first connect fails after this (default 5 s), reconnects are unbounded */
  timeoutMs?: number;
  /** timeout of JetStream API calls and publish acks (default 5 s) */
  apiTimeoutMs?: number;
  /** connection attempts when the server does not answer in time (default 3) */
  attempts?: number;
  /** told before each further attempt */
  onRetry?: (attempt: number, error: Error) => void;
}

/**
 * Connects to NATS and opens JetStream; reconnects forever once connected.
 * A server that accepts the connection but does not answer in time (starting
 * up, or a machine under load) is tried again until `timeoutMs` has passed
 * `attempts` times; a refused connection fails at once.
 */
export async function connectBus(o: ConnectBusOptions): Promise<Bus> {
  const attempts = o.attempts ?? 3;
  for (let i = 1; ; i++) {
    try {
      return await connectOnce(o);
    } catch (e) {
      const timedOut = (e as { name?: string }).name === "TimeoutError" || /timeout/i.test((e as Error).message);
      if (!timedOut || i >= attempts) throw e;
      o.onRetry?.(i, e as Error);
    }
  }
}

async function connectOnce(o: ConnectBusOptions): Promise<Bus> {
  const { servers, auth } = natsCredentials(o.servers);
  const nc = await connect({
    ...auth,
    servers,
    name: o.name,
    timeout: o.timeoutMs ?? 5_000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // a stalled server (or a cut network) keeps the TCP connection open: unanswered pings are how the
    // client notices, within ~3 intervals, and moves to another server of the cluster
    pingInterval: 2_000,
    maxPingOut: 3,
    // the client otherwise builds two Error objects (stack traces) for every request,
    // i.e. for every publish ack and KV write: ~13 % of a node's CPU under load
    noAsyncTraces: true,
  });
  const timeout = o.apiTimeoutMs ?? 5_000;
  const js = jetstream(nc, { timeout });
  // not asked whether JetStream answers yet: a cluster still forming does not, and provisioning waits for it
  const jsm = await jetstreamManager(nc, { timeout, checkAPI: false });
  const publisher = createJsPublisher(nc, timeout);
  return {
    nc,
    js,
    publisher,
    jsm,
    kvm: new Kvm(js),
    serverVersion: nc.info?.version ?? "unknown",
    close: async () => {
      if (nc.isClosed()) return;
      // draining needs the server: without it (it is gone, or stalled) close at once after a bound
      const bound = new Promise<"late">((r) => setTimeout(() => r("late"), DRAIN_BOUND_MS).unref());
      const drained = await Promise.race([nc.drain().catch(() => "failed" as const), bound]);
      if (drained !== undefined && !nc.isClosed()) await nc.close();
    },
  };
}

/** True when something accepts NATS clients at `url` within `timeoutMs`. */
export async function natsAnswers(url: string, timeoutMs = 500): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, timeout: timeoutMs, reconnect: false });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}
