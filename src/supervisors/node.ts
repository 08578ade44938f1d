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
  encodeToken,
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
  type PartitionEvent,
  type Router,
  type SessionHost,
} from "../actors/index.js";
import type { ClawConfig } from "../config.js";
import { ConfigError } from "../config.js";
import { createMetrics, startGateway, type ClawMetrics, type ConsumerBacklog, type Gateway } from "../gateway/index.js";
import { createScriptedModel, type Model } from "../llm/index.js";
import { createUiRoutes } from "../ui/index.js";
import type { Logger } from "../log.js";
import { createActor } from "xstate";
import { createActorEvents, createTracing, type ActorEvents } from "../observability/index.js";
import { nodeMachine } from "./node.machine.js";
import { CLAW_VERSION } from "../version.js";
import { reconcileAssignment } from "./cluster-leader.js";
import { partitionBacklog } from "./cluster-status.js";
import { leaseChild } from "./leader-lease.js";
import { advertisedHttp, heartbeatChild, leave } from "./membership.js";
import { resolveNatsEndpoint, type NatsEndpoint } from "./nats-endpoint.js";
import { partitionManager } from "./partition-manager.js";
import { defaultRestartIntensity } from "./restart-intensity.js";
import { startSupervisor } from "./supervisor.js";

/** A running node. */
export interface ClawNode {
  readonly nodeId: string;
  readonly bus: Bus;
  /** the gateway's port */
  readonly httpPort: number;
  /** "mapped": the server partitions inbound; "router": the fallback router does */
  readonly partitioning: "mapped" | "router";
  readonly host: SessionHost;
  /** live actor events (XState inspection → `claw.events.actor.>`) */
  readonly actorEvents: ActorEvents;
  /** partitions this node runs now */
  owned(): number[];
  readonly leading: boolean;
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

/**
 * Reads the backlog of a node's partition consumers from the server, at most
 * once per second however often it is scraped, and answers with the last
 * reading (or nothing) when the server is slow to say.
 */
function consumerBacklogReader(jsm: Bus["jsm"]): { read(partitions: number[]): Promise<ConsumerBacklog[]> } {
  let last: { at: number; value: ConsumerBacklog[] } = { at: 0, value: [] };
  let reading: Promise<ConsumerBacklog[]> | undefined;
  const readNow = async (partitions: number[]) =>
    (await partitionBacklog(jsm, partitions)).map((l) => ({ stream: l.stream, partition: l.partition, waiting: l.pending + l.inFlight }));
  return {
    async read(partitions) {
      if (Date.now() - last.at < 1_000) return last.value;
      reading ??= readNow(partitions)
        .then((value) => (last = { at: Date.now(), value }).value)
        .finally(() => (reading = undefined));
      const timeout = new Promise<ConsumerBacklog[]>((r) => setTimeout(() => r(last.value), 2_000).unref());
      return Promise.race([reading, timeout]);
    },
  };
}

/** Core NATS request `{olderThanMs?}`: every node passivates its idle sessions and replies `{node, passivated, active}`. */
export const PASSIVATE_SUBJECT = "claw.ctl.passivate";

/** Feeds metrics (and logs) from a partition runner's events. */
function observePartition(e: PartitionEvent, metrics: ClawMetrics, log: Logger): void {
  switch (e.type) {
    case "message.accepted":
      metrics.messagesIn.inc({ channel: e.channel });
      if (e.deliveries > 1) metrics.redeliveries.inc({ stage: e.stage });
      metrics.stageDuration.observe({ stage: "ingress" }, e.ingressMs / 1000);
      log.debug(e, e.type);
      return;
    case "message.settled":
      if (e.outcome === "answered") metrics.messagesOut.inc({ channel: e.channel });
      metrics.stageDuration.observe({ stage: "session" }, e.sessionMs / 1000);
      metrics.stageDuration.observe({ stage: "end_to_end" }, Math.max(0, e.endToEndMs) / 1000);
      log.debug(e, e.type);
      return;
    case "message.dead":
      metrics.dlq.inc({ stage: e.stage, reason: e.code });
      log.warn(e, e.type);
      return;
    case "message.forwarded":
      log.debug(e, e.type);
      return;
    default:
      log.warn(e, e.type);
  }
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

const specOptions = (config: ClawConfig) => ({
  ...defaultSpecOptions(),
  replicas: config.replicas,
  duplicateWindowMs: config.duplicateWindowMs,
  memberTtlMs: config.memberTtlMs,
  leaseTtlMs: config.leaseTtlMs,
});

/**
 * Checks that the server partitions inbound subjects as this node does.
 * Returns "router" when it does not partition at all (the leader then runs
 * the fallback router).
 */
async function checkPartitioning(bus: Bus, config: ClawConfig, log: Logger): Promise<"mapped" | "router"> {
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
      "This costs one extra hop per message, and a message that fails to route is retried after later ones.",
  );
  await ensureStream(bus.jsm, rawInboundStreamSpec(specOptions(config)), (m) => log.warn(m));
  await ensureConsumer(bus.jsm, STREAMS.inRaw, routerConsumerSpec(defaultConsumerOptions()));
  return "router";
}

/** Provisions everything the data path needs; idempotent, never clobbers. */
async function provision(bus: Bus, config: ClawConfig, log: Logger): Promise<void> {
  const spec = specOptions(config);
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

/** Starts a node: joins the cluster, runs the partitions it is assigned, serves HTTP. */
export async function startNode(config: ClawConfig, log: Logger): Promise<ClawNode> {
  const models = modelsFor(config);
  const endpoint: NatsEndpoint = await resolveNatsEndpoint(
    { natsUrl: config.natsUrl, port: config.embeddedNatsPort, dataDir: resolve(config.dataDir), binary: config.natsServerBin },
    log,
  );
  let bus: Bus;
  try {
    bus = await connectBus({
      servers: endpoint.servers,
      name: `claw-${config.nodeId}`,
      onRetry: (attempt, e) => log.warn({ servers: endpoint.servers, attempt, err: e.message }, "NATS did not answer in time; trying again"),
    });
  } catch (e) {
    await endpoint.embedded?.stop();
    throw new ConfigError(`cannot connect to NATS at ${endpoint.servers.join(",")}: ${(e as Error).message}`);
  }
  log.info({ servers: endpoint.servers, server_version: bus.serverVersion }, "connected to NATS");
  const backoff = { ...defaultBackoff(), baseMs: config.retryBaseMs, maxMs: config.retryMaxMs };
  const cleanups: Array<() => Promise<void>> = [async () => bus.close(), async () => endpoint.embedded?.stop()];
  try {
    await provision(bus, config, log);
    const partitioning = await checkPartitioning(bus, config, log);
    const [sessions, cluster, members, leaseKv] = await Promise.all(
      [BUCKETS.sessions, BUCKETS.cluster, BUCKETS.members, BUCKETS.lease].map((b) => bus.kvm.open(b)),
    );
    let leading = () => false;
    let owned = () => 0;
    let ownedPartitions = (): number[] => [];
    const backlog = consumerBacklogReader(bus.jsm);
    let active = () => 0;
    const actorEvents = createActorEvents(bus.nc, config.nodeId);
    cleanups.unshift(async () => actorEvents.close());
    const tracing = await createTracing(config.nodeId);
    cleanups.unshift(() => tracing.shutdown());
    if (tracing.enabled) log.info("exporting spans over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT)");
    const metrics = createMetrics({
      partitionsOwned: () => owned(),
      leader: () => leading(),
      sessionsActive: () => active(),
      consumerBacklog: () => backlog.read(ownedPartitions()),
    });
    const host = createSessionHost({
      js: bus.js,
      // histories all in CLAW_TRANSCRIPTS are stored by reference and read back from there
      store: createSessionStore(sessions!, { jsm: bus.jsm }),
      models,
      nodeId: config.nodeId,
      maxDeliver: config.maxDeliver,
      backoff,
      idleMs: config.idleMs,
      turnTimeoutMs: config.turnTimeoutMs,
      keepAliveMs: Math.max(500, Math.floor(config.ackWaitMs / 3)),
      transcripts: config.transcripts,
      failpoint: failpointsFrom(config.failpoints, log),
      inspection: actorEvents,
      tracing,
      onEvent: (e) => {
        if (e.type === "session.passivated") metrics.sessionsPassivated.inc();
        if (e.type === "turn.retrying") log.info(e, e.type);
        else log.debug(e, e.type);
      },
    });
    // operators (and the sessions bench) can free memory now: passivate sessions idle for `olderThanMs`
    const passivateSub = bus.nc.subscribe(PASSIVATE_SUBJECT, {
      callback: (_err, m) => {
        let olderThanMs = 0;
        try {
          olderThanMs = Number((m.data.length ? m.json<{ olderThanMs?: number }>() : {}).olderThanMs ?? 0) || 0;
        } catch {
          /* passivate every idle session */
        }
        const passivated = host.passivateIdle(olderThanMs);
        // with --expose-gc, give the memory back at once (for measurements)
        (globalThis as { gc?: () => void }).gc?.();
        if (m.reply) m.respond(JSON.stringify({ node: config.nodeId, passivated, active: host.active }));
      },
    });
    cleanups.unshift(async () => passivateSub.unsubscribe());
    const idPrefix = { in: await streamIdPrefix(bus, STREAMS.in), session: await streamIdPrefix(bus, STREAMS.sessions) };
    const partitions = partitionManager({
      cluster: cluster!,
      members: members!,
      node: config.nodeId,
      start: (p) =>
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
          cluster: cluster!,
          tracing,
          onEvent: (e) => observePartition(e, metrics, log),
        }),
      inspection: actorEvents,
      onEvent: (e) => (e.type === "assignment.applied" ? log.info(e, e.type) : log.debug(e, e.type)),
    });

    let router: Router | undefined;
    const nodeActor = createActor(nodeMachine, { input: { node: config.nodeId } });
    actorEvents.register("node", encodeToken(config.nodeId), nodeActor);
    nodeActor.start();
    const lease = leaseChild(leaseKv!, config.nodeId, config.leaseTtlMs, {
      async elected() {
        nodeActor.send({ type: "lease.taken" });
        log.info("leader lease taken: this node is the leader");
        if (partitioning === "router") {
          router = await startRouter({ bus, partitions: config.partitions, nodeId: config.nodeId, backoff, idPrefix: `r${await streamIdPrefix(bus, STREAMS.inRaw)}` });
        }
      },
      async deposed() {
        nodeActor.send({ type: "lease.lost" });
        log.info("leader lease lost");
        await router?.stop();
        router = undefined;
      },
      async tick() {
        const a = await reconcileAssignment(cluster!, members!, config.partitions, config.nodeId);
        if (a) log.info({ epoch: a.epoch, members: a.members }, "assignment written");
      },
    });
    leading = () => lease.state.leading;
    owned = () => partitions.owned().length;
    ownedPartitions = () => partitions.owned();
    active = () => host.active;
    const startedAt = Date.now();
    // the gateway starts after the first heartbeat; later heartbeats carry its address
    let http: string | undefined;
    const heartbeat = heartbeatChild(members!, Math.max(100, Math.floor(config.memberTtlMs / 3)), () => ({
      node: config.nodeId,
      version: CLAW_VERSION,
      pid: process.pid,
      startedAt,
      partitions: partitions.owned().length,
      sessions: host.active,
      http,
      ts: Date.now(),
    }));
    let stop: () => Promise<void> = async () => {};
    const supervisor = startSupervisor([heartbeat, lease.child, partitions.child], {
      intensity: defaultRestartIntensity(),
      backoff: { baseMs: 200, factor: 2, maxMs: 5_000 },
      onEvent: (e) => {
        if (e.type === "child.failed") metrics.actorRestarts.inc({ kind: e.child });
        log.error(e, e.type);
      },
      onEscalate: (child, err) => {
        log.fatal({ child, err }, "restart intensity exceeded: stopping the node");
        void stop().finally(() => process.exit(1));
      },
    });
    const joined = await Promise.race([partitions.joined.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
    if (!joined) log.warn("no assignment includes this node yet; serving HTTP while waiting for the leader");
    nodeActor.send({ type: joined ? "joined" : "waiting" });
    if (!joined) void partitions.joined.then(() => nodeActor.send({ type: "joined" }));

    let ready = true;
    const ui = createUiRoutes({ bus, nodeId: config.nodeId, actorEvents, onError: (e) => log.warn({ err: e }, "live view error") });
    cleanups.unshift(async () => ui.close());
    const gateway: Gateway = await startGateway({
      bus,
      host: config.httpHost,
      port: config.httpPort,
      maxPayload: config.maxPayload,
      agentIds: config.agents.map((a) => a.id),
      nodeId: config.nodeId,
      ready: () => ready,
      metrics,
      extraRoutes: ui.handle,
      onError: (e) => log.error({ err: e }, "gateway error"),
    });
    cleanups.unshift(() => gateway.close());
    http = advertisedHttp(config.httpHost, gateway.port);
    log.info(
      {
        partitions: config.partitions,
        owned: partitions.owned().length,
        leader: lease.state.leading,
        partitioning,
        http: `http://${config.httpHost}:${gateway.port}`,
        agents: config.agents.map((a) => a.id),
      },
      "claw node started",
    );

    let stopping: Promise<void> | undefined;
    stop = () => {
      stopping ??= (async () => {
        nodeActor.send({ type: "stop" });
        ready = false;
        log.info("stopping: giving partitions up, finishing in-flight work");
        await lease.resign();
        await supervisor.stop();
        // leave first so the leader moves our partitions; they are handed over as each one drains
        await leave(members!, config.nodeId);
        await router?.stop();
        await Promise.all([partitions.releaseAll(), host.stop()]);
        for (const c of cleanups) await c();
        nodeActor.send({ type: "stopped" });
        log.info("stopped");
      })();
      return stopping;
    };
    return {
      nodeId: config.nodeId,
      bus,
      httpPort: gateway.port,
      partitioning,
      host,
      actorEvents,
      owned: () => partitions.owned(),
      get leading() {
        return lease.state.leading;
      },
      stop: () => stop(),
    };
  } catch (e) {
    for (const c of cleanups) await c().catch(() => undefined);
    throw e;
  }
}
