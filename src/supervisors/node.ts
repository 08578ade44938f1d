/**
 * A Claw node, as a list of what is wired to what: NATS (embedded and
 * supervised, or configured), the bus' health, the session host, the
 * partitions it owns, membership and the leader lease under the node
 * supervisor, and the HTTP gateway with the live view. Stops gracefully:
 * stop pulling, finish in-flight work, drain the connection.
 */
import { resolve } from "node:path";
import { createActor } from "xstate";
import { JetStreamApiError } from "@nats-io/jetstream";
import {
  BUCKETS,
  connectBus,
  defaultBackoff,
  delay,
  deltaSubject,
  encodeReplyPiece,
  encodeToken,
  isJetStreamForming,
  redactServers,
  SKILL_CANCEL_SUBJECT,
  STREAMS,
  watchBusHealth,
  within,
  withRetry,
  type Bus,
  type RetryOptions,
} from "../bus/index.js";
import { startPartitionRunner, createSessionHost, createSessionStore, openAgentRegistry, servePassivation, type AgentDeps, type SessionHost } from "../actors/index.js";
import { ConfigError, type ClawConfig } from "../config.js";
import { createMetrics, serveWhileStarting, startGateway, type StartupServer } from "../gateway/index.js";
import { createProviderModels } from "../llm/index.js";
import { createUiRoutes } from "../ui/index.js";
import { ACTOR_MACHINES } from "./actor-machines.js";
import type { Logger } from "../log.js";
import { createActorEvents, createTracing, type ActorEvents } from "../observability/index.js";
import { CLAW_VERSION } from "../version.js";
import { clusterStatus, consumerBacklogReader } from "./cluster-status.js";
import { failpointsFrom } from "./failpoints.js";
import { leaderDuties } from "./leader-duties.js";
import { leaseChild } from "./leader-lease.js";
import { advertisedHttp, heartbeatChild, leave, liveness, writeProbe } from "./membership.js";
import { probePresence, servePresence } from "./presence.js";
import { embeddedServerChild, resolveNatsEndpoint } from "./nats-endpoint.js";
import { nodeMachine } from "./node.machine.js";
import { startNodeSkills } from "./node-skills.js";
import { observeBusHealth, observeChannel, observeLlm, observePartition, observeSessionHost, observeSkillWorker, observeSupervisor } from "./node-observers.js";
import { nodeChannels } from "./node-channels.js";
import { gatewayAccess } from "./node-access.js";
import { nodeWebhooks } from "./node-webhooks.js";
import { channelStatus, serveChannelListing } from "./channel-status.js";
import { checkPartitioning, consumerOptions, provision, streamIdPrefix, type Partitioning } from "./node-provision.js";
import { partitionManager } from "./partition-manager.js";
import { readiness, type Readiness } from "./readiness.js";
import { defaultRestartIntensity } from "./restart-intensity.js";
import { startSupervisor } from "./supervisor.js";

/** A running node. */
export interface ClawNode {
  readonly nodeId: string;
  readonly bus: Bus;
  /** the gateway's port */
  readonly httpPort: number;
  /** "mapped": the server partitions inbound; "router": the fallback router does */
  readonly partitioning: Partitioning;
  readonly host: SessionHost;
  /** live actor events (XState inspection → `claw.events.actor.>`) */
  readonly actorEvents: ActorEvents;
  /** partitions this node runs now */
  owned(): number[];
  readonly leading: boolean;
  /** whether it serves now, and why not (what `/readyz` answers) */
  readiness(): Readiness;
  stop(): Promise<void>;
}

/** How long a node that must exit (restart intensity exceeded) gives its graceful stop. */
const FATAL_STOP_MS = 10_000;

/** What a stop may take beyond `CLAW_DRAIN_MS`: handing back and cancelling what still runs, closing the connection. */
const STOP_GRACE_MS = 5_000;

/** Options of {@link startNode}. */
export interface StartNodeOptions {
  /** aborted when the process is told to stop while the node is still starting (it then gives up waiting for NATS) */
  signal?: AbortSignal;
}

/** How a start-up waits for JetStream: 250 ms, doubling, at most 5 s between tries. */
const FORMING_BACKOFF = { baseMs: 250, factor: 2, maxMs: 5_000 };

/** Starts a node: joins the cluster, runs the partitions it is assigned, serves HTTP. */
export async function startNode(config: ClawConfig, log: Logger, o: StartNodeOptions = {}): Promise<ClawNode> {
  const endpoint = await resolveNatsEndpoint(
    { natsUrl: config.natsUrl, port: config.embeddedNatsPort, dataDir: resolve(config.dataDir), binary: config.natsServerBin },
    log,
  );
  let bus: Bus;
  try {
    bus = await connectBus({
      servers: endpoint.servers,
      name: `claw-${config.nodeId}`,
      onRetry: (attempt, e) => log.warn({ servers: redactServers(endpoint.servers), attempt, err: e.message }, "NATS did not answer in time; trying again"),
    });
  } catch (e) {
    await endpoint.embedded?.stop();
    throw new ConfigError(`cannot connect to NATS at ${redactServers(endpoint.servers).join(",")}: ${(e as Error).message}`);
  }
  log.info({ servers: redactServers(endpoint.servers), server_version: bus.serverVersion }, "connected to NATS");
  const backoff = { ...defaultBackoff(), baseMs: config.retryBaseMs, maxMs: config.retryMaxMs };
  const cleanups: Array<() => Promise<void>> = [async () => bus.close(), async () => endpoint.embedded?.stop()];
  // until the gateway serves, the HTTP port says the node is starting, and why it waits
  let notReadyYet = "node: starting";
  let early: StartupServer;
  try {
    early = await serveWhileStarting({ host: config.httpHost, port: config.httpPort, nodeId: config.nodeId, reasons: () => [notReadyYet] });
  } catch (e) {
    for (const c of cleanups) await c().catch(() => undefined);
    throw e;
  }
  cleanups.unshift(() => early.close());
  log.info({ http: `http://${config.httpHost}:${early.port}` }, "starting: /healthz and /readyz answer while the node starts");
  /**
   * A NATS cluster that is forming (or electing) answers "no suitable peers", "temporarily unavailable",
   * "insufficient resources" or nothing at all: the start waits for it, as long as it takes, and says why.
   */
  const untilFormed: RetryOptions = {
    totalMs: Infinity,
    policy: FORMING_BACKOFF,
    signal: o.signal,
    transient: isJetStreamForming,
    onRetry: (e, attempt, delayMs) => {
      notReadyYet = "jetstream: forming";
      const api = e instanceof JetStreamApiError ? { err_code: e.code, status: e.status } : {};
      log.warn({ reason: notReadyYet, detail: (e as Error)?.message ?? String(e), ...api, attempt, retryInMs: delayMs }, "JetStream is not ready (its cluster is forming or electing): waiting");
    },
  };
  let stop: () => Promise<void> = async () => {};
  /** Past a restart intensity: stop within a bound (NATS may be gone), then exit non-zero for the process manager. */
  const fatal = (what: string, err: unknown) => {
    log.fatal({ child: what, err }, "restart intensity exceeded: stopping the node");
    process.stderr.write(`claw: ${what} failed too often (${(err as Error)?.message ?? String(err)}); exiting so that a process manager restarts the node\n`);
    const bounded = new Promise((r) => setTimeout(r, FATAL_STOP_MS).unref());
    void Promise.race([stop(), bounded]).finally(() => process.exit(1));
  };
  try {
    const intensity = defaultRestartIntensity();
    const childBackoff = { baseMs: 200, factor: 2, maxMs: 5_000 };
    // the embedded nats-server is the node's child: restarted on the same port and store when it dies
    if (endpoint.embedded) {
      const natsSupervisor = startSupervisor([embeddedServerChild(endpoint.embedded, log)], {
        intensity,
        backoff: childBackoff,
        onEvent: (e) => log.error(e, e.type),
        onEscalate: (_child, err) => fatal("the embedded nats-server", err),
      });
      // stopped after the connection closes, before the server itself (the last clean-up)
      cleanups.splice(cleanups.length - 1, 0, () => natsSupervisor.stop());
    }
    await provision(bus, config, log, untilFormed);
    const partitioning = await checkPartitioning(bus, config, log, untilFormed);
    const [sessions, cluster, members, leaseKv, registryKv, channelsKv] = await Promise.all(
      [BUCKETS.sessions, BUCKETS.cluster, BUCKETS.members, BUCKETS.lease, BUCKETS.registry, BUCKETS.channels].map((b) => withRetry(() => bus.kvm.open(b), untilFormed)),
    );
    if (notReadyYet === "jetstream: forming") log.info("JetStream is ready: starting");
    notReadyYet = "node: starting";
    const health = watchBusHealth({ nc: bus.nc, probeWrite: () => writeProbe(members!, config.nodeId) });
    // first: every part below reports into it from its start; its readings are taken at scrape time,
    // once the gateway serves (after everything below exists)
    const metrics = createMetrics({
      partitionsOwned: () => partitions.owned().length,
      leader: () => lease.state.leading,
      sessionsActive: () => host.active,
      consumerBacklog: () => backlog.read(partitions.owned()),
      ready: () => ready().ready,
      busProblem: () => health.problem()?.code,
      llmCircuits: () => llm.circuits(),
    });

    cleanups.unshift(async () => health.close());
    const actorEvents = createActorEvents(bus.nc, config.nodeId);
    cleanups.unshift(async () => actorEvents.close());
    const tracing = await createTracing(config.nodeId);
    cleanups.unshift(() => tracing.shutdown());
    if (tracing.enabled) log.info("exporting spans over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT)");

    let stopping = false;
    const backlog = consumerBacklogReader(bus.jsm);
    const nodeActor = createActor(nodeMachine, { input: { node: config.nodeId } });
    actorEvents.register("node", encodeToken(config.nodeId), nodeActor);
    nodeActor.start();
    const llm = createProviderModels(config.providers, { onEvent: (e) => observeLlm(e, metrics, tracing, log) });
    const models = llm.registry;
    // the agents live in KV claw_registry, changed without restarts; CLAW_CONFIG seeds them
    const registry = await openAgentRegistry(registryKv!, { models: () => models.names() }, { onError: (e) => log.warn({ err: e }, "agent registry entry ignored") });
    cleanups.unshift(async () => registry.close());
    if (config.agentsFrom === "file") {
      const removed = await registry.seed(config.agents, { prune: true });
      if (removed.length) log.info({ agents: removed }, "agents an earlier CLAW_CONFIG seeded and this one does not list: removed");
    } else {
      await registry.seedDefaults(config.agents);
    }
    const agents = () => registry.list();
    const failpoint = failpointsFrom(config.failpoints, log);
    const skills = await startNodeSkills({ bus, config, log, backoff, inspection: actorEvents, onEvent: (e) => observeSkillWorker(e, metrics, log) });
    cleanups.unshift(() => skills.stop());
    const deps: AgentDeps = {
      js: bus.publisher,
      nodeId: config.nodeId,
      partitions: config.partitions,
      agent: (id) => registry.get(id)?.spec,
      model: (agent) => models.model(agent),
      skills: skills.catalog,
      transcripts: config.transcripts,
      tracing,
      // streamed pieces of replies: best effort on core NATS, for whoever waits (the chat completions endpoint)
      delta: (to, replyTo, seq, text) => bus.nc.publish(deltaSubject(to), encodeReplyPiece({ replyTo, seq, text })),
      cancelTools: (ids) => bus.nc.publish(SKILL_CANCEL_SUBJECT, JSON.stringify({ ids })),
      failpoint,
    };
    const host = createSessionHost({
      // histories all in CLAW_TRANSCRIPTS are stored by reference and read back from there
      store: createSessionStore(sessions!, { jsm: bus.jsm, publisher: { js: bus.publisher, bucket: BUCKETS.sessions } }),
      deps,
      maxDeliver: config.maxDeliver,
      backoff,
      idleMs: config.idleMs,
      turnTimeoutMs: config.turnTimeoutMs,
      keepAliveMs: Math.max(500, Math.floor(config.ackWaitMs / 3)),
      failpoint,
      inspection: actorEvents,
      busHealth: health,
      onEvent: (e) => observeSessionHost(e, metrics, log),
    });
    const passivation = servePassivation(bus.nc, host, config.nodeId);
    cleanups.unshift(async () => passivation.unsubscribe());
    const idPrefix = { in: await streamIdPrefix(bus, STREAMS.in, untilFormed), session: await streamIdPrefix(bus, STREAMS.sessions, untilFormed) };
    // who is alive: heartbeats, and presence on the bus (a dead process is gone at once, not after the TTL)
    const presence = servePresence(bus.nc, config.nodeId);
    cleanups.unshift(async () => presence.unsubscribe());
    const alive = liveness(members!, bus.jsm, (node) => probePresence(bus.nc, node));
    const partitions = partitionManager({
      cluster: cluster!,
      liveness: alive,
      node: config.nodeId,
      start: (p) =>
        startPartitionRunner({
          bus,
          host,
          agents,
          defaultAgent: () => config.defaultAgent,
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
          onEvent: (e) => observePartition(e, metrics, log, config.slowTurnMs),
        }),
      inspection: actorEvents,
      onEvent: (e) => (e.type === "assignment.applied" ? log.info(e, e.type) : log.debug(e, e.type)),
    });
    const duties = leaderDuties({
      bus,
      nodeId: config.nodeId,
      partitions: config.partitions,
      partitioning,
      cluster: cluster!,
      liveness: alive,
      backoff,
      consumer: consumerOptions(config),
      log,
      onLeadership: (leading) => nodeActor.send({ type: leading ? "lease.taken" : "lease.lost" }),
    });
    const lease = leaseChild(leaseKv!, config.nodeId, config.leaseTtlMs, duties, (node) => alive.isAlive(node));
    // each channel account runs on the node holding its lease
    const channels = nodeChannels({
      bus,
      channels: config.channels,
      nodeId: config.nodeId,
      log,
      backoff,
      consumer: consumerOptions(config),
      maxPayload: config.maxPayload,
      leases: leaseKv!,
      state: channelsKv!,
      leaseTtlMs: config.leaseTtlMs,
      isAlive: (node) => alive.isAlive(node),
      inspection: actorEvents,
      onEvent: (e) => observeChannel(e, metrics, log),
    });
    const channelListing = serveChannelListing(bus.nc, config.nodeId, () => channels.list());
    cleanups.unshift(async () => channelListing.unsubscribe());
    const ready = () => readiness({ stopping, bus: health.problem(), assigned: partitions.assigned() });
    const unwatch = health.subscribe((e) => {
      observeBusHealth(e, metrics, log);
      if (e.type === "bus.unavailable") nodeActor.send({ type: "bus.unavailable", reason: e.problem.reason });
      if (e.type === "bus.available") nodeActor.send({ type: "bus.available" });
      // deliveries and acks on the lost connection may be gone: take every mailbox over again
      if (e.type === "bus.reconnected") {
        partitions.resync();
        duties.resync();
      }
    });
    cleanups.unshift(async () => unwatch());

    const startedAt = Date.now();
    // the gateway starts after the first heartbeat; later heartbeats carry its address
    let http: string | undefined;
    const heartbeat = heartbeatChild(members!, Math.max(100, Math.floor(config.memberTtlMs / 3)), () => {
      const r = ready();
      return {
        node: config.nodeId,
        version: CLAW_VERSION,
        pid: process.pid,
        startedAt,
        partitions: partitions.owned().length,
        sessions: host.active,
        http,
        ready: r.ready,
        sandboxes: skills.sandboxes,
        ...(r.ready ? {} : { notReady: r.reasons }),
        ts: Date.now(),
      };
    });
    const supervisor = startSupervisor([heartbeat, lease.child, partitions.child, ...channels.children], {
      intensity,
      backoff: childBackoff,
      // an outage of NATS is not a failure of these children: they wait for it, uncounted
      dependency: health,
      onEvent: (e) => observeSupervisor(e, metrics, log),
      onEscalate: (child, err) => fatal(`the ${child} loop`, err),
    });
    const joined = await Promise.race([partitions.joined.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
    if (!joined) log.warn("no assignment includes this node yet; serving HTTP while waiting for the leader");
    nodeActor.send({ type: joined ? "joined" : "waiting" });
    if (!joined) void partitions.joined.then(() => nodeActor.send({ type: "joined" }));

    const ui = createUiRoutes({
      bus,
      nodeId: config.nodeId,
      actorEvents,
      readCluster: () => clusterStatus(bus.jsm, bus.kvm),
      readiness: ready,
      machines: ACTOR_MACHINES,
      onError: (e) => log.warn({ err: e }, "live view error"),
    });
    cleanups.unshift(async () => ui.close());
    const access = await gatewayAccess(bus, config, log);
    cleanups.unshift(async () => access.stop());
    const webhooks = await nodeWebhooks({ bus, nodeId: config.nodeId, log, backoff, consumer: consumerOptions(config), maxAttempts: config.webhookMaxAttempts, timeoutMs: config.webhookTimeoutMs, dnsServers: config.dnsServers, allowPrivate: config.webhookAllowPrivate });
    cleanups.unshift(() => webhooks.stop());
    // the gateway takes the start-up answerer's port over
    await early.close();
    const gateway = await startGateway({
      bus,
      host: config.httpHost,
      port: early.port,
      maxPayload: config.maxPayload,
      duplicateWindowMs: config.duplicateWindowMs,
      headersTimeoutMs: config.httpHeadersTimeoutMs,
      requestTimeoutMs: config.httpRequestTimeoutMs,
      wsConsumerIdleMs: config.wsConsumerIdleMs,
      agents: {
        has: (id) => registry.get(id) !== undefined,
        list: () => registry.routing(config.defaultAgent).agents,
        routes: () => registry.routing(config.defaultAgent).routes,
        get: (id) => registry.get(id),
        put: (input) => {
          const { priority, ...spec } = (input ?? {}) as { priority?: unknown };
          return registry.put(spec, "api", typeof priority === "number" ? priority : undefined);
        },
      },
      nodeId: config.nodeId,
      readiness: ready,
      busProblem: () => health.problem(),
      observePublishError: (e) => health.observe(e),
      onRefused: (reason) => metrics.publishRefused.inc({ stage: "gateway", reason }),
      skills: skills.directory(() => alive.members()),
      channels: () => channelStatus(bus.nc),
      webhook: (type, account, req) => channels.webhook(type, account, req),
      metrics,
      extraRoutes: ui.handle,
      access: access.options,
      hosts: config.httpHosts,
      origins: config.httpOrigins,
      maxConnections: config.httpMaxConnections,
      onConnectionsFull: (max, more) => log.warn({ max, more }, "connections refused: the gateway holds CLAW_HTTP_MAX_CONNECTIONS already"),
      webhooksOut: webhooks.directory,
      audit: access.audit,
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
        agents: registry.list().map((a) => a.id),
      },
      "claw node started",
    );

    let stopped: Promise<void> | undefined;
    const graceful = async (deadline: number) => {
      nodeActor.send({ type: "stop" });
      stopping = true;
      log.info({ drainMs: config.drainMs }, "stopping: giving partitions up, finishing in-flight work");
      // skill invocations: none taken from now on; those running get until the deadline, then are handed back or cancelled
      const skillsDrained = skills.workers.drain(deadline);
      await lease.resign();
      // channel accounts move at once: their connections close, what they had not acked natively is the broker's again
      await channels.resign();
      await supervisor.stop();
      // leave first so the leader moves our partitions; they are handed over as each one drains
      await leave(members!, config.nodeId);
      await duties.stop();
      await Promise.all([partitions.releaseAll(), host.stop(), skillsDrained]);
      for (const c of cleanups) await c();
    };
    stop = () => {
      stopped ??= (async () => {
        const deadline = Date.now() + config.drainMs;
        // bounded whatever NATS does (gone, stalled): what is not handed back by then JetStream redelivers after its ack wait
        const outcome = await Promise.race([
          graceful(deadline).then(() => "stopped" as const),
          delay(config.drainMs + STOP_GRACE_MS).then(() => "late" as const),
        ]);
        if (outcome === "late") {
          log.warn({ drainMs: config.drainMs, graceMs: STOP_GRACE_MS, bus: health.problem()?.reason }, "the stop did not finish in time (NATS unavailable?): closing without waiting; JetStream redelivers what was in flight");
          if (!bus.nc.isClosed()) await within(bus.nc.close(), 1_000, () => new Error("close")).catch(() => undefined);
          // the embedded server is a child process: it must not outlive the node
          void endpoint.embedded?.kill("SIGTERM");
        }
        nodeActor.send({ type: "stopped" });
        log.info(outcome === "late" ? "stopped (forced)" : "stopped");
      })();
      return stopped;
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
      readiness: ready,
      stop: () => stop(),
    };
  } catch (e) {
    for (const c of cleanups) await c().catch(() => undefined);
    throw e;
  }
}
