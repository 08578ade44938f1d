/**
 * What a starting node waits for before it runs anything: JetStream ready
 * (the streams, consumers and buckets provisioned, the partitioning checked,
 * the buckets open). A NATS cluster that is forming (or electing) answers
 * "no suitable peers", "temporarily unavailable", "insufficient resources"
 * or nothing at all: the start waits for it, as long as it takes, and says
 * why — in its log, and on its HTTP port, where a start-up answerer holds
 * `/healthz` 200 and `/readyz` 503 until the gateway takes the port over.
 */
import type { KV } from "@nats-io/kv";
import { JetStreamApiError } from "@nats-io/jetstream";
import { BUCKETS, isJetStreamForming, STREAMS, withRetry, type Bus, type RetryOptions } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import { serveWhileStarting } from "../gateway/index.js";
import type { Logger } from "../log.js";
import { checkPartitioning, provision, streamIdPrefix, type Partitioning } from "./node-provision.js";

/** How a start-up waits for JetStream: 250 ms, doubling, at most 5 s between tries. */
const FORMING_BACKOFF = { baseMs: 250, factor: 2, maxMs: 5_000 };

/** Why a starting node is not ready yet, as its start-up answerer says. */
export type StartingReason = "node: starting" | "jetstream: forming";

/** The node's HTTP port while it starts: what it answers, and why it is not ready yet. */
export interface StartingNode {
  readonly port: number;
  reason: StartingReason;
  /** frees the port (for the gateway); closing twice is harmless */
  close(): Promise<void>;
}

/** Holds the node's HTTP port with the start-up answerer until the gateway takes it over. */
export async function serveStarting(config: ClawConfig, log: Logger): Promise<StartingNode> {
  const status: { reason: StartingReason } = { reason: "node: starting" };
  const server = await serveWhileStarting({ host: config.httpHost, port: config.httpPort, nodeId: config.nodeId, reasons: () => [status.reason] });
  log.info({ http: `http://${config.httpHost}:${server.port}` }, "starting: /healthz and /readyz answer while the node starts");
  let closed: Promise<void> | undefined;
  return {
    port: server.port,
    get reason() {
      return status.reason;
    },
    set reason(r) {
      status.reason = r;
    },
    close: () => (closed ??= server.close()),
  };
}

/** The buckets a node runs on, open. */
export interface NodeBuckets {
  sessions: KV;
  cluster: KV;
  members: KV;
  lease: KV;
  registry: KV;
  channels: KV;
}

/** What a node finds once JetStream is ready. */
export interface NodeStore {
  partitioning: Partitioning;
  kv: NodeBuckets;
  /** the prefixes of ids derived from `CLAW_IN`'s and `CLAW_SESSIONS`' messages (each stream's creation time) */
  idPrefix: { in: string; session: string };
}

/** Retries while JetStream forms, as long as it takes (until `signal` aborts), saying why on `starting`. */
function untilFormed(starting: StartingNode, log: Logger, signal: AbortSignal | undefined): RetryOptions {
  return {
    totalMs: Infinity,
    policy: FORMING_BACKOFF,
    signal,
    transient: isJetStreamForming,
    onRetry: (e, attempt, delayMs) => {
      starting.reason = "jetstream: forming";
      const api = e instanceof JetStreamApiError ? { err_code: e.code, status: e.status } : {};
      const detail = (e as Error)?.message ?? String(e);
      log.warn(
        { reason: starting.reason, detail, ...api, attempt, retryInMs: delayMs },
        "JetStream is not ready (its cluster is forming or electing): waiting",
      );
    },
  };
}

/** Waits for JetStream, provisions what the data path needs, checks the partitioning and opens the buckets. */
export async function waitForJetStream(bus: Bus, config: ClawConfig, log: Logger, starting: StartingNode, signal?: AbortSignal): Promise<NodeStore> {
  const retry = untilFormed(starting, log, signal);
  await provision(bus, config, log, retry);
  const partitioning = await checkPartitioning(bus, config, log, retry);
  const open = (bucket: string) => withRetry(() => bus.kvm.open(bucket), retry);
  const buckets = [BUCKETS.sessions, BUCKETS.cluster, BUCKETS.members, BUCKETS.lease, BUCKETS.registry, BUCKETS.channels];
  const [sessions, cluster, members, lease, registry, channels] = await Promise.all(buckets.map(open));
  const idPrefix = { in: await streamIdPrefix(bus, STREAMS.in, retry), session: await streamIdPrefix(bus, STREAMS.sessions, retry) };
  if (starting.reason === "jetstream: forming") log.info("JetStream is ready: starting");
  starting.reason = "node: starting";
  return { partitioning, kv: { sessions: sessions!, cluster: cluster!, members: members!, lease: lease!, registry: registry!, channels: channels! }, idPrefix };
}
