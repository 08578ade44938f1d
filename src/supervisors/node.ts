/**
 * A Claw node, as the list of its parts in the order they start: NATS
 * (embedded and supervised, or configured) and the connection to it, the
 * port held while JetStream forms, the bus' health and what observes the
 * node, its agents, skills and sessions, its part in the cluster (the
 * partitions it owns, membership, the leader lease, channel accounts) under
 * one supervisor — its partitions served before its gateway is — the gRPC
 * server, and the HTTP gateway with the live view. It stops in the reverse order: first the
 * hand-over (stop pulling, finish in-flight work within `CLAW_DRAIN_MS`,
 * give everything up) while the gateway still answers, then each part,
 * the connection last; bounded whatever NATS does (node-stop.ts).
 */
import { createActor } from "xstate";
import { servePassivation, type AgentRegistry, type SessionHost } from "../actors/index.js";
import { encodeToken, watchBusHealth, type Bus, type BusHealth, type BusHealthEvent } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import { createProviderModels, tenantModels, type ProviderCallEvent, type ProviderModels } from "../llm/index.js";
import type { Logger } from "../log.js";
import {
  createActorEvents,
  createMetrics,
  createTracing,
  type ActorEvents,
  type ClawMetrics,
  type MetricsSources,
  type Tracing,
} from "../observability/index.js";
import type { SkillWorkerEvent } from "../skills/index.js";
import { createUiRoutes } from "../ui/index.js";
import { ACTOR_MACHINES } from "./actor-machines.js";
import { serveChannelListing } from "./channel-status.js";
import { clusterStatus, consumerBacklogReader } from "./cluster-status.js";
import { lifecycle } from "./lifecycle.js";
import { advertisedHttp, writeProbe } from "./membership.js";
import { closeNow, connectNode, embeddedDefault, killEmbedded, resolveNatsEndpoint, stopEmbedded, superviseEmbedded } from "./nats-endpoint.js";
import { gatewayAccess } from "./node-access.js";
import { openNodeTenants } from "./node-tenants.js";
import { openNodeAgents } from "./node-agents.js";
import { nodeUsage } from "./node-usage.js";
import { nodeQuotas } from "./node-quotas.js";
import { handOver, nodeCluster, superviseCluster, type ClusterLoops, type NodeActor, type NodeCluster } from "./node-cluster.js";
import { startNodeGateway } from "./node-gateway.js";
import { startNodeGrpc } from "./node-grpc.js";
import { serveStarting, waitForJetStream, type NodeStore } from "./node-jetstream.js";
import { nodeMachine } from "./node.machine.js";
import { observeBusHealth, observeLlm, observeSkillWorker } from "./node-observers.js";
import { retryBackoff, type Partitioning } from "./node-provision.js";
import { nodeSessionHost } from "./node-sessions.js";
import { startNodeSkills } from "./node-skills.js";
import { openNodeMedia } from "./node-media.js";
import { boundedStop, exitOnEscalation } from "./node-stop.js";
import { nodeScheduler, openNodeSchedules } from "./node-schedules.js";
import { openNodeMemory } from "./node-memory.js";
import { nodeApprovalSweeper, openNodeApprovals } from "./node-approvals.js";
import { nodeWebhooks } from "./node-webhooks.js";
import { servePresence } from "./presence.js";
import { readiness, type Readiness } from "./readiness.js";

/** A running node. */
export interface ClawNode {
  readonly nodeId: string;
  readonly bus: Bus;
  /** the gateway's port */
  readonly httpPort: number;
  /** the gRPC server's port (undefined with `CLAW_GRPC_PORT=off`) */
  readonly grpcPort: number | undefined;
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

/** Options of {@link startNode}. */
export interface StartNodeOptions {
  /** aborted when the process is told to stop while the node is still starting (it then gives up waiting for NATS) */
  signal?: AbortSignal;
}

/** Starts a node: joins the cluster, runs the partitions it is assigned, serves HTTP. */
export async function startNode(config: ClawConfig, log: Logger, o: StartNodeOptions = {}): Promise<ClawNode> {
  const parts = nodeParts(config, log, o.signal);
  const stop = boundedStop(parts, {
    drainMs: config.drainMs,
    log,
    lateReason: () => parts.started().health?.problem()?.reason,
    onStopped: () => parts.started().nodeActor?.send({ type: "stopped" }),
  });
  const p = await parts.start({ stop });
  return {
    nodeId: config.nodeId,
    bus: p.bus,
    httpPort: p.gateway.port,
    grpcPort: p.grpc?.port,
    partitioning: p.store.partitioning,
    host: p.host,
    actorEvents: p.actorEvents,
    owned: () => p.cluster.partitions.owned(),
    get leading() {
      return p.cluster.lease.state.leading;
    },
    readiness: p.readiness,
    stop,
  };
}

/**
 * The node's parts: each starts after those above it (and is given them),
 * and stops before them. A part's control (`node`) stops the whole node: a
 * child past its restart intensity exits the process after a bounded stop.
 */
function nodeParts(config: ClawConfig, log: Logger, signal: AbortSignal | undefined) {
  const { nodeId } = config;
  return (
    lifecycle()
      .part("nats", () => resolveNatsEndpoint(embeddedDefault(config), log), { stop: stopEmbedded, kill: killEmbedded })
      // the embedded nats-server is the node's child: restarted on the same port and store when it dies
      .part("natsServer", ({ nats }, node) => superviseEmbedded(nats, log, exitOnEscalation(log, node.stop)), { stop: (s) => s?.stop() })
      .part("bus", ({ nats }) => connectNode(nats, nodeId, log), { stop: (bus) => bus.close(), kill: closeNow })
      // until the gateway serves, the HTTP port says the node is starting, and why it waits
      .part("starting", () => serveStarting(config, log), { stop: (s) => s.close() })
      .part("store", ({ bus, starting }) => waitForJetStream(bus, config, log, starting, signal))
      .part("health", ({ bus, store }) => watchBusHealth({ nc: bus.nc, probeWrite: () => writeProbe(store.kv.members, nodeId) }), {
        stop: (h) => h.close(),
      })
      // first of what observes the node: every part below reports into it from its start
      .part("metrics", () => createMetrics())
      .part("actorEvents", ({ bus }) => createActorEvents(bus.nc, nodeId), { stop: (a) => a.close() })
      .part("tracing", () => startTracing(nodeId, log), { stop: (t) => t.shutdown() })
      .part("nodeActor", ({ actorEvents }) => startNodeActor(nodeId, actorEvents))
      // usage per tenant and agent (KV claw_usage): /v1/usage, and the tokensPerDay quotas
      .part("usage", ({ bus, metrics }) => nodeUsage(bus, metrics, log), { stop: (u) => u.stop() })
      // the tenants (KV claw_registry, seeded from CLAW_CONFIG): their quotas, and the providers some bring
      .part("tenants", ({ store }) => openNodeTenants(store.kv.registry, config, log), { stop: (t) => t.stop() })
      .part("llm", ({ metrics, tracing, usage, tenants }) => {
        const onEvent = (e: ProviderCallEvent) => {
          observeLlm(e, metrics, tracing, log);
          usage.observe(e);
        };
        const cluster = createProviderModels(config.providers, { onEvent });
        // a tenant's agents use the tenant's own providers, when it brings some
        return { ...cluster, registry: tenantModels(cluster.registry, { providersOf: (t) => tenants.get(t)?.tenant.providers, onEvent }) };
      })
      // the agents live in KV claw_registry, changed without restarts; CLAW_CONFIG seeds them
      .part("agents", ({ store, llm }) => openNodeAgents(store.kv.registry, llm.registry, config, log), { stop: (r) => r.close() })
      // the schedules' store: the gateway's /v1/schedules and the agents' schedule.* skills
      .part("schedules", ({ bus }) => openNodeSchedules(bus))
      // agents' long-term memory: the memory.* skills, recall into turns, the gateway's /v1/agents/{id}/memory
      .part("memory", ({ bus, agents }) => openNodeMemory(bus, config, log, agents))
      // the approvals' store and service: the turns' approval gate, /v1/approvals, the chat's /approve and /deny
      .part("approvals", ({ bus }) => openNodeApprovals(bus, config, log))
      // media skills made (screenshots): kept in claw_media, linked at /v1/media/{id}
      .part("media", ({ bus }) => openNodeMedia(bus, config))
      .part(
        "skills",
        (p) =>
          startNodeSkills({
            ...p,
            config,
            log,
            backoff: retryBackoff(config),
            inspection: p.actorEvents,
            onEvent: (e) => {
              observeSkillWorker(e, p.metrics, log);
              p.usage.observeSkill(e);
            },
          }),
        {
          stop: (s) => s.stop(),
        },
      )
      .part("host", (p) =>
        nodeSessionHost({ ...p, config, log, models: p.llm.registry, skills: p.skills.catalog, inspection: p.actorEvents, busHealth: p.health }),
      )
      .part("passivation", ({ bus, host }) => servePassivation(bus.nc, host, nodeId), { stop: (s) => s.unsubscribe() })
      // who is alive: heartbeats, and presence on the bus (a dead process is gone at once, not after the TTL)
      .part("presence", ({ bus }) => servePresence(bus.nc, nodeId), { stop: (s) => s.unsubscribe() })
      // the tenants and their quotas: the partitions ask them before a turn runs, the gateway at its door
      .part(
        "quotas",
        ({ bus, metrics, usage, store, tenants }) =>
          nodeQuotas(bus, log, { tenants, metrics, usage: usage.meter, members: store.kv.members, sessions: store.kv.sessions, jsm: bus.jsm }),
        { stop: (q) => q.stop() },
      )
      .part("cluster", (p) => nodeCluster({ ...p, config, log, admission: p.quotas.admission }))
      .part("channelListing", ({ bus, cluster }) => serveChannelListing(bus.nc, nodeId, () => cluster.channels.list()), { stop: (s) => s.unsubscribe() })
      .part("readiness", (p) => () => readiness({ stopping: stopping(p.nodeActor), bus: p.health.problem(), assigned: p.cluster.partitions.assigned() }))
      .part("healthWatch", ({ health, nodeActor, cluster, metrics }) => watchHealth(health, nodeActor, cluster, (e) => observeBusHealth(e, metrics, log)), {
        stop: (unwatch) => unwatch(),
      })
      // the loops under one supervisor: the partitions are served before the gateway is
      // (a node's stop has the hand-over stop them first; this stop is for a start that fails later)
      .part(
        "loops",
        (p, node) => superviseCluster(p.cluster, { ...p, config, log, sandboxes: p.skills.sandboxes, onEscalate: exitOnEscalation(log, node.stop) }),
        {
          stop: (l) => l.supervisor.stop(),
        },
      )
      // fires while this node leads (each occurrence once, whoever fires it: scheduler.ts)
      .part("scheduler", ({ bus, cluster }) => nodeScheduler(bus, config, log, () => cluster.lease.state.valid()), { stop: (s) => s.stop() })
      // times approvals out while this node leads (each decision once, whoever takes it: approvals/store.ts)
      .part("approvalSweeper", ({ bus, approvals, cluster }) => nodeApprovalSweeper(bus, approvals, log, () => cluster.lease.state.valid()), {
        stop: (s) => s.stop(),
      })
      // read at scrape time, once the gateway serves
      .part("gauges", (p) => p.metrics.readFrom(gaugeSources(p)))
      .part("ui", ({ bus, actorEvents, readiness: ready }) => liveView(bus, nodeId, actorEvents, ready, log), { stop: (ui) => ui.close() })
      .part("access", ({ bus, metrics, usage, quotas }) => gatewayAccess(bus, config, log, { metrics, usage: usage.meter, quotas }), { stop: (a) => a.stop() })
      .part("webhooks", ({ bus }) => nodeWebhooks(bus, config, log), { stop: (w) => w.stop() })
      // gRPC beside HTTP: started once the partitions are served, stopped (its calls drained) after the gateway, before the bus
      .part("grpc", (p) => startNodeGrpc({ ...p, config, log }), { stop: (g, deadline) => g?.close(deadline), kill: (g) => g?.kill() })
      .part(
        "gateway",
        async (p) => {
          const gateway = await startNodeGateway({ ...p, config, log });
          p.media.listening(gateway.port);
          return serving(gateway, p, config, log);
        },
        { stop: (g) => g.close() },
      )
      // stopped first: the hand-over, while the gateway still answers (`/readyz`: node: stopping)
      .part("handOver", (p) => p, { stop: (p, deadline) => handOver({ ...p, config, log, skills: p.skills.workers }, deadline) })
  );
}

/** Tracing over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (none otherwise). */
async function startTracing(nodeId: string, log: Logger): Promise<Tracing> {
  const tracing = await createTracing(nodeId);
  if (tracing.enabled) log.info("exporting spans over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT)");
  return tracing;
}

/** The node actor (the node's lifecycle, leadership and view of NATS, for the live view), started. */
function startNodeActor(nodeId: string, actorEvents: ActorEvents): NodeActor {
  const actor = createActor(nodeMachine, { input: { node: nodeId } });
  actorEvents.register("node", encodeToken(nodeId), actor);
  actor.start();
  return actor;
}

/** True once the node was told to stop. */
function stopping(actor: NodeActor): boolean {
  const s = actor.getSnapshot();
  return s.matches({ lifecycle: "stopping" }) || s.matches({ lifecycle: "stopped" });
}

/** Tells the node actor of NATS' comings and goings; after a reconnect every mailbox is taken over again. */
function watchHealth(health: BusHealth, nodeActor: NodeActor, cluster: NodeCluster, observe: (e: BusHealthEvent) => void): () => void {
  return health.subscribe((e) => {
    observe(e);
    if (e.type === "bus.unavailable") nodeActor.send({ type: "bus.unavailable", reason: e.problem.reason });
    if (e.type === "bus.available") nodeActor.send({ type: "bus.available" });
    // deliveries and acks on the lost connection may be gone: take every mailbox over again
    if (e.type === "bus.reconnected") {
      cluster.partitions.resync();
      cluster.duties.resync();
    }
  });
}

/** The parts the scrape-time gauges read. */
interface GaugeParts {
  cluster: NodeCluster;
  host: SessionHost;
  health: BusHealth;
  llm: ProviderModels;
  readiness: () => Readiness;
  bus: Bus;
}

/** What the scrape-time gauges read. */
function gaugeSources({ cluster, host, health, llm, readiness: ready, bus }: GaugeParts): MetricsSources {
  const backlog = consumerBacklogReader(bus.jsm);
  return {
    partitionsOwned: () => cluster.partitions.owned().length,
    leader: () => cluster.lease.state.leading,
    sessionsActive: () => host.active,
    consumerBacklog: () => backlog.read(cluster.partitions.owned()),
    ready: () => ready().ready,
    busProblem: () => health.problem()?.code,
    llmCircuits: () => llm.circuits(),
  };
}

/** The live view's routes. */
function liveView(bus: Bus, nodeId: string, actorEvents: ActorEvents, ready: () => Readiness, log: Logger) {
  return createUiRoutes({
    bus,
    nodeId,
    actorEvents,
    readCluster: () => clusterStatus(bus.jsm, bus.kvm),
    readiness: ready,
    machines: ACTOR_MACHINES,
    onError: (e) => log.warn({ err: e }, "live view error"),
  });
}

/** The parts {@link serving} reads. */
interface ServingParts {
  grpc: { port: number } | undefined;
  cluster: NodeCluster;
  loops: ClusterLoops;
  store: NodeStore;
  agents: AgentRegistry;
}

/** The gateway serves: later heartbeats carry its address, and the log says the node started. */
function serving<G extends { port: number }>(gateway: G, p: ServingParts, config: ClawConfig, log: Logger): G {
  p.loops.advertise(advertisedHttp(config.httpHost, gateway.port));
  log.info(
    {
      partitions: config.partitions,
      owned: p.cluster.partitions.owned().length,
      leader: p.cluster.lease.state.leading,
      partitioning: p.store.partitioning,
      http: `http://${config.httpHost}:${gateway.port}`,
      ...(p.grpc ? { grpc: `${config.httpHost.includes(":") ? `[${config.httpHost}]` : config.httpHost}:${p.grpc.port}` } : {}),
      agents: p.agents.list().map((a) => a.id),
    },
    "claw node started",
  );
  return gateway;
}
