/**
 * A node's gRPC server, wired: the same data plane, agents, skills, access
 * settings, audit trail and bus health as its HTTP gateway (node-gateway.ts),
 * on `CLAW_GRPC_PORT` at `CLAW_HTTP_HOST`; none with `CLAW_GRPC_PORT=off`.
 * The port is bound at start; gRPC's libraries load on the first connection.
 */
import type { AgentRegistry } from "../actors/index.js";
import type { Bus, BusHealth } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import { createInbound } from "../gateway/inbound.js";
import { startGrpcServer, type GrpcServer } from "../grpc/index.js";
import type { Logger } from "../log.js";
import type { ClawMetrics } from "../observability/index.js";
import type { GatewayAccess } from "./node-access.js";
import { agentDirectory } from "./node-agents.js";
import type { NodeCluster } from "./node-cluster.js";
import type { NodeSkills } from "./node-skills.js";
import type { Readiness } from "./readiness.js";

/** What the gRPC server serves. */
export interface NodeGrpcParts {
  bus: Bus;
  config: ClawConfig;
  log: Logger;
  health: BusHealth;
  metrics: ClawMetrics;
  agents: AgentRegistry;
  skills: NodeSkills;
  cluster: NodeCluster;
  readiness: () => Readiness;
  access: GatewayAccess;
}

/** Starts the gRPC server, or nothing when it is off. */
export async function startNodeGrpc(p: NodeGrpcParts): Promise<GrpcServer | undefined> {
  const { bus, config, log } = p;
  if (!config.grpc) return undefined;
  const inbound = createInbound({
    bus,
    nodeId: config.nodeId,
    maxPayload: config.maxPayload,
    duplicateWindowMs: config.duplicateWindowMs,
    busProblem: () => p.health.problem(),
    observePublishError: (e) => p.health.observe(e),
    onRefused: (reason) => p.metrics.publishRefused.inc({ stage: "grpc", reason }),
  });
  const agents = agentDirectory(p.agents, config.defaultAgent);
  return startGrpcServer({
    host: config.httpHost,
    port: config.grpc.port,
    tls: config.grpc.tls,
    maxPayload: config.maxPayload,
    bus,
    inbound,
    hasAgent: (id) => agents.has(id),
    skills: p.skills.directory(() => p.cluster.alive.members()),
    access: p.access.options,
    audit: p.access.audit,
    repliesIdleMs: config.wsConsumerIdleMs,
    ready: () => p.readiness().ready,
    onError: (e) => log.error({ err: e }, "gRPC error"),
    // the libraries load on the first connection, not at start (grpc/server.ts): when, and what it cost, is in the log
    onLoaded: (ms) => log.info({ ms }, "gRPC loaded on its first connection"),
  });
}
