/**
 * A Claw node: connects (or starts) NATS, provisions streams and buckets,
 * checks the partition mapping, and runs the partitions it owns, the session
 * host and the HTTP gateway. Stops gracefully: stop pulling, finish in-flight
 * work, drain the connection.
 */
import { resolve } from "node:path";
import {
  BUCKETS,
  bucketSpecs,
  connectBus,
  defaultBackoff,
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
  type Bus,
} from "../bus/index.js";
import {
  createPartitionRunner,
  createSessionHost,
  createSessionStore,
  startRouter,
  type PartitionRunner,
  type Router,
  type SessionHost,
} from "../actors/index.js";
import type { ClawConfig } from "../config.js";
import { ConfigError } from "../config.js";
import { startGateway, type Gateway } from "../gateway/index.js";
import { createScriptedModel, type Model } from "../llm/index.js";
import type { Logger } from "../log.js";
import { resolveNatsEndpoint, type NatsEndpoint } from "./nats-endpoint.js";

/** A running node. */
export interface ClawNode {
  readonly nodeId: string;
  readonly bus: Bus;
  /** the gateway's port */
  readonly httpPort: number;
  /** "mapped": the server partitions inbound; "router": the fallback router does */
  readonly partitioning: "mapped" | "router";
  readonly host: SessionHost;
  stop(): Promise<void>;
}

async function streamIdPrefix(bus: Bus, stream: string): Promise<string> {
  const info = await bus.jsm.streams.info(stream);
  return Date.parse(info.created).toString(36);
}

function modelsFor(config: ClawConfig): Map<string, Model> {
  const scripted = createScriptedModel();
  const models = new Map<string, Model>();
  for (const a of config.agents) {
    if (a.model !== "scripted") throw new ConfigError(`agent ${a.id}: unknown model ${a.model} (available: scripted)`);
    models.set(a.id, scripted);
  }
  return models;
}

/** A failpoint hook that kills this process (as a crash would) at the named points. */
function failpointsFrom(names: string[], log: Logger): ((name: string) => void) | undefined {
  if (names.length === 0) return undefined;
  log.warn({ failpoints: names }, "failpoints armed: this node will SIGKILL itself when it reaches them");
  return (name) => {
    if (!names.includes(name)) return;
    // stderr is written synchronously; the logger's buffer would die with the process
    process.stderr.write(`claw: failpoint ${name} reached: killing this node\n`);
    process.kill(process.pid, "SIGKILL");
  };
}

/** Provisions everything the data path needs; idempotent, never clobbers. */
async function provision(bus: Bus, config: ClawConfig, log: Logger): Promise<void> {
  const spec = { ...defaultSpecOptions(), replicas: config.replicas, duplicateWindowMs: config.duplicateWindowMs };
  const warn = (m: string) => log.warn(m);
  for (const s of streamSpecs(spec)) await ensureStream(bus.jsm, s, warn);
  for (const b of bucketSpecs(spec)) await ensureBucket(bus.kvm, b);
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

const consumerOptions = (config: ClawConfig) => ({ ...defaultConsumerOptions(), ackWaitMs: config.ackWaitMs, maxAckPending: config.maxAckPending });

/** Starts a node. */
export async function startNode(config: ClawConfig, log: Logger): Promise<ClawNode> {
  const models = modelsFor(config);
  const endpoint: NatsEndpoint = await resolveNatsEndpoint(
    { natsUrl: config.natsUrl, port: config.embeddedNatsPort, dataDir: resolve(config.dataDir), binary: config.natsServerBin },
    log,
  );
  let bus: Bus;
  try {
    bus = await connectBus({ servers: endpoint.servers, name: `claw-${config.nodeId}` });
  } catch (e) {
    await endpoint.embedded?.stop();
    throw new ConfigError(`cannot connect to NATS at ${endpoint.servers.join(",")}: ${(e as Error).message}`);
  }
  log.info({ servers: endpoint.servers, server_version: bus.serverVersion }, "connected to NATS");
  const backoff = { ...defaultBackoff(), baseMs: config.retryBaseMs, maxMs: config.retryMaxMs };
  const cleanups: Array<() => Promise<void>> = [async () => bus.close(), async () => endpoint.embedded?.stop()];
  try {
    await provision(bus, config, log);
    const probe = await probePartitionMapping(bus.nc, config.nodeId, config.partitions);
    let router: Router | undefined;
    if (probe.kind === "mismatch") {
      throw new ConfigError(
        `the NATS server partitions claw.in.> differently from this node (probe landed in partition ${probe.observed}, expected ${probe.expected}); ` +
          `check the mapping's partition count against CLAW_PARTITIONS=${config.partitions}`,
      );
    }
    if (probe.kind === "unmapped") {
      log.warn(
        "the NATS server does not partition claw.in.> (see nats/*.conf for the mapping): falling back to a router stage. " +
          "This costs one extra hop per message, and per-chat order holds only while a single router runs; " +
          "a message that fails to route is retried after later ones.",
      );
      const spec = { ...defaultSpecOptions(), replicas: config.replicas, duplicateWindowMs: config.duplicateWindowMs };
      await ensureStream(bus.jsm, rawInboundStreamSpec(spec), (m) => log.warn(m));
      await ensureConsumer(bus.jsm, STREAMS.inRaw, routerConsumerSpec(defaultConsumerOptions()));
      router = await startRouter({ bus, partitions: config.partitions, nodeId: config.nodeId, backoff, idPrefix: `r${await streamIdPrefix(bus, STREAMS.inRaw)}` });
    }

    const sessions = await bus.kvm.open(BUCKETS.sessions);
    const cluster = await bus.kvm.open(BUCKETS.cluster);
    const host = createSessionHost({
      js: bus.js,
      store: createSessionStore(sessions),
      models,
      nodeId: config.nodeId,
      maxDeliver: config.maxDeliver,
      backoff,
      idleMs: config.idleMs,
      turnTimeoutMs: config.turnTimeoutMs,
      keepAliveMs: Math.max(500, Math.floor(config.ackWaitMs / 3)),
      transcripts: config.transcripts,
      failpoint: failpointsFrom(config.failpoints, log),
      onEvent: (e) => (e.type === "turn.retrying" ? log.info(e, e.type) : log.debug(e, e.type)),
    });
    const idPrefix = { in: await streamIdPrefix(bus, STREAMS.in), session: await streamIdPrefix(bus, STREAMS.sessions) };
    const runners: PartitionRunner[] = await Promise.all(
      Array.from({ length: config.partitions }, (_, p) =>
        createPartitionRunner({
          bus,
          host,
          agents: config.agents,
          partition: p,
          partitions: config.partitions,
          nodeId: config.nodeId,
          maxPayload: config.maxPayload,
          maxDeliver: config.maxDeliver,
          backoff,
          batch: Math.min(128, config.maxAckPending),
          idPrefix,
          consumer: consumerOptions(config),
          cluster,
          onEvent: (e) => (e.type === "message.forwarded" ? log.debug(e, e.type) : log.warn(e, e.type)),
        }),
      ),
    );
    let ready = true;
    const gateway: Gateway = await startGateway({
      bus,
      host: config.httpHost,
      port: config.httpPort,
      maxPayload: config.maxPayload,
      agentIds: config.agents.map((a) => a.id),
      nodeId: config.nodeId,
      ready: () => ready,
      onError: (e) => log.error({ err: e }, "gateway error"),
    });
    cleanups.unshift(() => gateway.close());
    log.info(
      { partitions: config.partitions, partitioning: router ? "router" : "mapped", http: `http://${config.httpHost}:${gateway.port}`, agents: config.agents.map((a) => a.id) },
      "claw node started",
    );

    let stopping: Promise<void> | undefined;
    return {
      nodeId: config.nodeId,
      bus,
      httpPort: gateway.port,
      partitioning: router ? "router" : "mapped",
      host,
      stop() {
        stopping ??= (async () => {
          ready = false;
          log.info("stopping: no new messages are pulled; finishing in-flight work");
          await router?.stop();
          await Promise.all(runners.map((r) => r.stopPulling()));
          await host.stop();
          await Promise.all(runners.map((r) => r.drained()));
          for (const c of cleanups) await c();
          log.info("stopped");
        })();
        return stopping;
      },
    };
  } catch (e) {
    for (const c of cleanups) await c().catch(() => undefined);
    throw e;
  }
}
