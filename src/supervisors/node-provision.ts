/**
 * What a node sets up on NATS before it serves: the streams, consumers and
 * buckets of the data path (idempotent, never clobbering), the partition
 * count the cluster agreed on, and whether the server partitions inbound
 * subjects itself or the fallback router must.
 */
import {
  BUCKETS,
  bucketSpecs,
  defaultConsumerOptions,
  defaultSpecOptions,
  ensureBucket,
  ensureConsumer,
  ensureStream,
  probePartitionMapping,
  rawInboundStreamSpec,
  routerConsumerSpec,
  streamSpecs,
  STREAMS,
  OBJECT_STORES,
  withRetry,
  type Bus,
  type ConsumerOptions,
  type SpecOptions,
} from "../bus/index.js";
import { Objm } from "@nats-io/obj";
import { ConfigError, type ClawConfig } from "../config.js";
import type { Logger } from "../log.js";

/** How inbound subjects are partitioned: by the server's mapping, or by the leader's router. */
export type Partitioning = "mapped" | "router";

/** The stream and bucket specs' knobs from the configuration. */
export function specOptions(config: ClawConfig): SpecOptions {
  return {
    ...defaultSpecOptions(),
    replicas: config.replicas,
    duplicateWindowMs: config.duplicateWindowMs,
    memberTtlMs: config.memberTtlMs,
    leaseTtlMs: config.leaseTtlMs,
    auditMaxAgeMs: config.auditMaxAgeDays * 24 * 3600 * 1000,
  };
}

/** The partition (and router) consumers' knobs from the configuration. */
export function consumerOptions(config: ClawConfig): ConsumerOptions {
  return { ...defaultConsumerOptions(), ackWaitMs: config.ackWaitMs, maxAckPending: config.maxAckPending };
}

/** A prefix unique to a stream's incarnation (its creation time), for message ids derived from stream sequences. */
export async function streamIdPrefix(bus: Bus, stream: string): Promise<string> {
  const info = await bus.jsm.streams.info(stream);
  return Date.parse(info.created).toString(36);
}

/** Provisions everything the data path needs; idempotent, never clobbers. */
export async function provision(bus: Bus, config: ClawConfig, log: Logger): Promise<void> {
  const spec = specOptions(config);
  const warn = (m: string) => log.warn(m);
  for (const s of streamSpecs(spec)) await ensureStream(bus.jsm, s, warn);
  for (const b of bucketSpecs(spec)) await ensureBucket(bus.kvm, b);
  await withRetry(() => new Objm(bus.js).create(OBJECT_STORES.skillFiles, { replicas: config.replicas }));
  const cluster = await bus.kvm.open(BUCKETS.cluster);
  // the partition count is fixed per cluster: the first node records it, the others must agree
  const recorded = await cluster.get("partitions");
  if (!recorded || recorded.operation !== "PUT") {
    await cluster.create("partitions", new TextEncoder().encode(String(config.partitions))).catch(() => undefined);
  }
  const count = Number((await cluster.get("partitions"))?.string() ?? config.partitions);
  if (count !== config.partitions) {
    throw new ConfigError(`this cluster uses ${count} partitions (recorded in KV ${BUCKETS.cluster}); set CLAW_PARTITIONS=${count}`);
  }
}

/**
 * Checks that the server partitions inbound subjects as this node does.
 * Returns "router" when it does not partition at all (the leader then runs
 * the fallback router, whose stream and consumer are provisioned here).
 */
export async function checkPartitioning(bus: Bus, config: ClawConfig, log: Logger): Promise<Partitioning> {
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
  await ensureStream(bus.jsm, rawInboundStreamSpec(specOptions(config)), (m) => log.warn(m));
  await ensureConsumer(bus.jsm, STREAMS.inRaw, routerConsumerSpec(consumerOptions(config)));
  return "router";
}
