/**
 * A node's part in the cluster: who is alive (heartbeats in `claw_members`,
 * sharpened by presence on the bus), the partitions it is assigned, the
 * leader's lease and duties, and the channel accounts it may hold — their
 * loops under one supervisor — and how a stopping node hands all of it over.
 */
import type { Actor } from "xstate";
import { startPartitionRunner, type AgentRegistry, type SessionHost, type TurnAdmission } from "../actors/index.js";
import type { Bus, BusHealth } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import type { Logger } from "../log.js";
import type { ActorEvents, ClawMetrics, Tracing } from "../observability/index.js";
import type { SkillWorkers } from "../skills/index.js";
import { CLAW_VERSION } from "../version.js";
import type { ApprovalService } from "../approvals/index.js";
import { approvalCommands } from "./node-approvals.js";
import type { NodeUsage } from "./node-usage.js";
import { leaderDuties, type LeaderDuties } from "./leader-duties.js";
import { leaseChild, type LeaseState } from "./leader-lease.js";
import { heartbeatChild, leave, liveness, type Liveness } from "./membership.js";
import { CHILD_BACKOFF } from "./nats-endpoint.js";
import { nodeChannels } from "./node-channels.js";
import type { NodeStore } from "./node-jetstream.js";
import type { nodeMachine } from "./node.machine.js";
import { observeChannel, observePartition, observeSupervisor } from "./node-observers.js";
import { consumerOptions, retryBackoff } from "./node-provision.js";
import { partitionManager, type PartitionManager } from "./partition-manager.js";
import { probePresence } from "./presence.js";
import type { Readiness } from "./readiness.js";
import { defaultRestartIntensity } from "./restart-intensity.js";
import { startSupervisor, type Supervisor } from "./supervisor.js";

/** How long a starting node waits to be assigned partitions before its gateway serves anyway. */
const JOIN_WAIT_MS = 15_000;

/** The node actor, as the cluster tells it what happens (joined, leading, stopping). */
export type NodeActor = Actor<typeof nodeMachine>;

/** Options of {@link nodeCluster}. */
export interface NodeClusterOptions {
  bus: Bus;
  config: ClawConfig;
  log: Logger;
  store: NodeStore;
  host: SessionHost;
  agents: AgentRegistry;
  tracing: Tracing;
  metrics: ClawMetrics;
  actorEvents: ActorEvents;
  nodeActor: NodeActor;
  /** the approvals: the partitions take `/approve` and `/deny` before their sessions do */
  approvals: ApprovalService;
  /** asked before a turn runs: the tenants' quotas */
  admission?: TurnAdmission;
  /** usage metering: the messages that came for each agent */
  usage?: Pick<NodeUsage, "observePartition">;
}

/** The node's cluster parts, made and not yet running (their loops start under {@link superviseCluster}). */
export interface NodeCluster {
  alive: Liveness;
  partitions: PartitionManager;
  duties: LeaderDuties;
  lease: { child: ReturnType<typeof leaseChild>["child"]; state: LeaseState; resign(): Promise<void> };
  channels: ReturnType<typeof nodeChannels>;
}

/** Makes the node's cluster parts. */
export function nodeCluster(o: NodeClusterOptions): NodeCluster {
  const { bus, config, log, store } = o;
  const backoff = retryBackoff(config);
  const consumer = consumerOptions(config);
  const alive = liveness(store.kv.members, bus.jsm, (node) => probePresence(bus.nc, node));
  const partitions = partitionManager({
    cluster: store.kv.cluster,
    liveness: alive,
    node: config.nodeId,
    start: (p) =>
      startPartitionRunner({
        bus,
        host: o.host,
        agents: () => o.agents.list(),
        defaultAgent: () => config.defaultAgent,
        partition: p,
        partitions: config.partitions,
        nodeId: config.nodeId,
        maxPayload: config.maxPayload,
        maxDeliver: config.maxDeliver,
        backoff,
        batch: Math.min(128, config.maxAckPending),
        idPrefix: store.idPrefix,
        consumer,
        cluster: store.kv.cluster,
        tracing: o.tracing,
        commands: approvalCommands(o.approvals, o.agents, log),
        admission: o.admission,
        onEvent: (e) => {
          observePartition(e, o.metrics, log, config.slowTurnMs);
          o.usage?.observePartition(e);
        },
      }),
    inspection: o.actorEvents,
    onEvent: (e) => (e.type === "assignment.applied" ? log.info(e, e.type) : log.debug(e, e.type)),
  });
  const duties = leaderDuties({
    bus,
    nodeId: config.nodeId,
    partitions: config.partitions,
    partitioning: store.partitioning,
    cluster: store.kv.cluster,
    liveness: alive,
    backoff,
    consumer,
    log,
    onLeadership: (leading) => o.nodeActor.send({ type: leading ? "lease.taken" : "lease.lost" }),
  });
  const lease = leaseChild(store.kv.lease, config.nodeId, config.leaseTtlMs, duties, (node) => alive.isAlive(node));
  // each channel account runs on the node holding its lease
  const channels = nodeChannels({
    bus,
    channels: config.channels,
    nodeId: config.nodeId,
    log,
    backoff,
    consumer,
    maxPayload: config.maxPayload,
    leases: store.kv.lease,
    state: store.kv.channels,
    leaseTtlMs: config.leaseTtlMs,
    isAlive: (node) => alive.isAlive(node),
    inspection: o.actorEvents,
    onEvent: (e) => observeChannel(e, o.metrics, log),
  });
  return { alive, partitions, duties, lease, channels };
}

/** Options of {@link superviseCluster}. */
export interface SuperviseClusterOptions {
  config: ClawConfig;
  log: Logger;
  store: NodeStore;
  metrics: ClawMetrics;
  /** an outage of NATS is not a failure of the loops: they wait for it, uncounted */
  health: BusHealth;
  host: SessionHost;
  /** the sandbox drivers this node has (its heartbeat says them) */
  sandboxes: string[];
  readiness: () => Readiness;
  nodeActor: NodeActor;
  /** a loop failed past its restart intensity */
  onEscalate: (what: string, err: unknown) => void;
}

/** The running cluster loops; `advertise` puts the gateway's address into later heartbeats. */
export interface ClusterLoops {
  supervisor: Supervisor;
  advertise(http: string): void;
}

/**
 * Starts the heartbeat, the lease, the partitions and the channel accounts
 * under one supervisor, then waits (at most {@link JOIN_WAIT_MS}) until an
 * assignment includes this node: its partitions are served before its
 * gateway is.
 */
export async function superviseCluster(cluster: NodeCluster, o: SuperviseClusterOptions): Promise<ClusterLoops> {
  const { config, log, nodeActor } = o;
  const startedAt = Date.now();
  // the gateway starts after the first heartbeat; later heartbeats carry its address
  let http: string | undefined;
  const heartbeat = heartbeatChild(o.store.kv.members, Math.max(100, Math.floor(config.memberTtlMs / 3)), () => {
    const r = o.readiness();
    return {
      node: config.nodeId,
      version: CLAW_VERSION,
      pid: process.pid,
      startedAt,
      partitions: cluster.partitions.owned().length,
      sessions: o.host.active,
      http,
      ready: r.ready,
      sandboxes: o.sandboxes,
      ...(r.ready ? {} : { notReady: r.reasons }),
      ts: Date.now(),
    };
  });
  const supervisor = startSupervisor([heartbeat, cluster.lease.child, cluster.partitions.child, ...cluster.channels.children], {
    intensity: defaultRestartIntensity(),
    backoff: CHILD_BACKOFF,
    dependency: o.health,
    onEvent: (e) => observeSupervisor(e, o.metrics, log),
    onEscalate: (child, err) => o.onEscalate(`the ${child} loop`, err),
  });
  const joined = await Promise.race([cluster.partitions.joined.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), JOIN_WAIT_MS))]);
  if (!joined) log.warn("no assignment includes this node yet; serving HTTP while waiting for the leader");
  nodeActor.send({ type: joined ? "joined" : "waiting" });
  if (!joined) void cluster.partitions.joined.then(() => nodeActor.send({ type: "joined" }));
  return {
    supervisor,
    advertise: (address) => {
      http = address;
    },
  };
}

/** What a stopping node hands over. */
export interface HandOverParts {
  config: ClawConfig;
  log: Logger;
  store: NodeStore;
  cluster: NodeCluster;
  loops: ClusterLoops;
  host: SessionHost;
  skills: SkillWorkers;
  nodeActor: NodeActor;
}

/**
 * A stopping node's hand-over, each step after the one before: no skill
 * invocation taken from now on (those running get until `deadline`, then
 * are handed back or cancelled), the lease and the channel accounts given up
 * at once, the loops stopped, the membership left — so the leader moves the
 * partitions — and the partitions released as each one drains, while the
 * sessions finish their turns.
 */
export async function handOver(p: HandOverParts, deadline: number): Promise<void> {
  p.nodeActor.send({ type: "stop" });
  p.log.info({ drainMs: p.config.drainMs }, "stopping: giving partitions up, finishing in-flight work");
  const skillsDrained = p.skills.drain(deadline);
  await p.cluster.lease.resign();
  // channel accounts move at once: their connections close, what they had not acked natively is the broker's again
  await p.cluster.channels.resign();
  await p.loops.supervisor.stop();
  // leave first so the leader moves our partitions; they are handed over as each one drains
  await leave(p.store.kv.members, p.config.nodeId);
  await p.cluster.duties.stop();
  await Promise.all([p.cluster.partitions.releaseAll(), p.host.stop(), skillsDrained]);
}
