/**
 * What a node sets up on NATS before it serves: the streams, consumers and
 * buckets of the data path (idempotent; existing streams brought to the
 * settings' subjects and limits, a conflicting retention or storage never
 * touched), the partition count the cluster agreed on, and whether the
 * server partitions inbound subjects itself or the fallback router must.
 */
import {
  BUCKETS,
  bucketSpecs,
  defaultBackoff,
  defaultConsumerOptions,
  defaultSpecOptions,
  ensureBucket,
  createOrTakeStore,
  ensureConsumer,
  ensureStream,
  probePartitionMapping,
  rawInboundStreamSpec,
  routerConsumerSpec,
  streamSpecs,
  STREAMS,
  OBJECT_STORES,
  StreamLimitError,
  withRetry,
  type BackoffPolicy,
  type Bus,
  type RetryOptions,
  type ConsumerOptions,
  type SpecOptions,
} from "../bus/index.js";
import { Objm } from "@nats-io/obj";
import { nanos } from "@nats-io/transport-node";
import { ConfigError, type ClawConfig } from "../config.js";
import type { Logger } from "../log.js";

/** How inbound subjects are partitioned: by the server's mapping, or by the leader's router. */
export type Partitioning = "mapped" | "router";

/** The stream and bucket specs' knobs from the configuration. */
export function specOptions(config: ClawConfig): SpecOptions {
  const days = (n: number) => n * 24 * 3600 * 1000;
  return {
    ...defaultSpecOptions(),
    replicas: config.replicas,
    partitions: config.partitions,
    duplicateWindowMs: config.duplicateWindowMs,
    memberTtlMs: config.memberTtlMs,
    leaseTtlMs: config.leaseTtlMs,
    auditMaxAgeMs: days(config.auditMaxAgeDays),
    workQueueMaxAgeMs: days(config.streamLimits.workQueueMaxAgeDays),
    dlqMaxAgeMs: days(config.streamLimits.dlqMaxAgeDays),
    transcriptMaxAgeMs: days(config.streamLimits.transcriptsMaxAgeDays),
    streamMaxBytes: config.streamLimits.maxBytes,
  };
}

/** The partition (and router) consumers' knobs from the configuration. */
export function consumerOptions(config: ClawConfig): ConsumerOptions {
  return { ...defaultConsumerOptions(), ackWaitMs: config.ackWaitMs, maxAckPending: config.maxAckPending };
}

/** How the node's consumers and stages back off between tries (`CLAW_RETRY_BASE_MS`, `CLAW_RETRY_MAX_MS`). */
export function retryBackoff(config: ClawConfig): BackoffPolicy {
  return { ...defaultBackoff(), baseMs: config.retryBaseMs, maxMs: config.retryMaxMs };
}

/** A prefix unique to a stream's incarnation (its creation time), for message ids derived from stream sequences. */
export async function streamIdPrefix(bus: Bus, stream: string, retry?: RetryOptions): Promise<string> {
  const info = await withRetry(() => bus.jsm.streams.info(stream), retry);
  return Date.parse(info.created).toString(36);
}

/** Creates a stream or brings it to the settings; a byte limit the store cannot hold, set by the operator, is a configuration error. */
async function ensureClawStream(bus: Bus, config: ClawConfig, log: Logger, spec: Parameters<typeof ensureStream>[1], retry: RetryOptions): Promise<void> {
  try {
    await ensureStream(bus.jsm, spec, (m) => log.warn(m), {
      retry,
      maxBytesIsDefault: !config.streamLimits.maxBytesSet,
      onUpdate: (stream, changes) => log.info({ stream, changes }, "stream brought to this node's settings"),
    });
  } catch (e) {
    if (!(e instanceof StreamLimitError)) throw e;
    throw new ConfigError(
      `${e.message}: set CLAW_STREAM_MAX_BYTES to what the JetStream store can hold for each of Claw's streams (0: no byte limit), or give ` +
        `nats-server a larger max_file_store`,
    );
  }
}

/**
 * Provisions everything the data path needs; idempotent.
 * `retry` decides how long JetStream may not be ready (a cluster forming, a
 * leader being elected) before this gives up.
 */
export async function provision(bus: Bus, config: ClawConfig, log: Logger, retry: RetryOptions = {}): Promise<void> {
  const spec = specOptions(config);
  // the buckets first: the partition count the cluster agreed on decides CLAW_IN's and CLAW_SESSIONS' subjects
  for (const b of bucketSpecs(spec)) await ensureBucket(bus.kvm, b, retry, bus.jsm);
  const cluster = await withRetry(() => bus.kvm.open(BUCKETS.cluster), retry);
  // the partition count is fixed per cluster: the first node records it, the others must agree
  const recorded = await withRetry(() => cluster.get("partitions"), retry);
  if (!recorded || recorded.operation !== "PUT") {
    await withRetry(() => cluster.create("partitions", new TextEncoder().encode(String(config.partitions))), retry).catch(() => undefined);
  }
  const count = Number((await withRetry(() => cluster.get("partitions"), retry))?.string() ?? config.partitions);
  if (count !== config.partitions) {
    throw new ConfigError(`this cluster uses ${count} partitions (recorded in KV ${BUCKETS.cluster}); set CLAW_PARTITIONS=${count}`);
  }
  for (const s of streamSpecs(spec)) await ensureClawStream(bus, config, log, s, retry);
  const objm = new Objm(bus.js);
  const store = (name: string, o: { replicas: number; ttl?: number }) =>
    createOrTakeStore(
      `OBJ_${name}`,
      bus.jsm,
      () => objm.create(name, o),
      () => objm.open(name),
      retry,
    );
  await store(OBJECT_STORES.skillFiles, { replicas: config.replicas });
  // media skills made (screenshots), served at /v1/media/{id}: kept CLAW_MEDIA_MAX_AGE_DAYS
  await store(OBJECT_STORES.media, { replicas: config.replicas, ttl: nanos(config.mediaMaxAgeDays * 86_400_000) });
}

/**
 * Checks that the server partitions inbound subjects as this node does.
 * Returns "router" when it does not partition at all (the leader then runs
 * the fallback router, whose stream and consumer are provisioned here).
 */
export async function checkPartitioning(bus: Bus, config: ClawConfig, log: Logger, retry: RetryOptions = {}): Promise<Partitioning> {
  const probe = await probePartitionMapping(bus.nc, config.nodeId, config.partitions);
  if (probe.kind === "mismatch") {
    throw new ConfigError(
      `the NATS server partitions claw.in.> differently from this node (probe landed in partition ${probe.observed}, expected ${probe.expected}); ` +
        `check the mapping's partition count against CLAW_PARTITIONS=${config.partitions}`,
    );
  }
  if (probe.kind === "mapped") return "mapped";
  log.warn(
    "the NATS server does not partition claw.in.> (see nats/*.conf for the mapping): falling back to a router stage, run by the leader. " +
      "This costs one extra JetStream hop per message; per-chat order and failover are kept (a new router takes over what the last one left).",
  );
  await ensureClawStream(bus, config, log, rawInboundStreamSpec(specOptions(config)), retry);
  await ensureConsumer(bus.jsm, STREAMS.inRaw, routerConsumerSpec(consumerOptions(config)), retry);
  return "router";
}
