/**
 * A node's HTTP gateway, wired: it takes the start-up answerer's port over,
 * serves the node's agents, skills, channels, webhooks, readiness and
 * metrics, the live view beside them, and admits callers as the node's
 * access settings say (`CLAW_HTTP_*`, keys, JWTs, rate limits).
 */
import type { AgentRegistry } from "../actors/index.js";
import type { Bus, BusHealth } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import { startGateway, type Gateway } from "../gateway/index.js";
import type { Logger } from "../log.js";
import type { ClawMetrics } from "../observability/index.js";
import type { ScheduleStore } from "../schedules/index.js";
import type { MemoryStore } from "../memory/index.js";
import type { ApprovalService } from "../approvals/index.js";
import type { UiRoutes } from "../ui/index.js";
import { channelStatus } from "./channel-status.js";
import type { GatewayAccess } from "./node-access.js";
import { agentDirectory } from "./node-agents.js";
import type { NodeCluster } from "./node-cluster.js";
import type { StartingNode } from "./node-jetstream.js";
import type { NodeSkills } from "./node-skills.js";
import type { NodeWebhooks } from "./node-webhooks.js";
import type { NodeUsage } from "./node-usage.js";
import type { NodeMedia } from "./node-media.js";
import type { Readiness } from "./readiness.js";

/** What the gateway serves. */
export interface NodeGatewayParts {
  bus: Bus;
  config: ClawConfig;
  log: Logger;
  /** the start-up answerer, whose port the gateway takes over */
  starting: StartingNode;
  health: BusHealth;
  metrics: ClawMetrics;
  agents: AgentRegistry;
  skills: NodeSkills;
  cluster: NodeCluster;
  readiness: () => Readiness;
  ui: UiRoutes;
  access: GatewayAccess;
  webhooks: NodeWebhooks;
  schedules: ScheduleStore;
  memory: { store: MemoryStore };
  usage: NodeUsage;
  approvals: ApprovalService;
  media: Pick<NodeMedia, "store">;
}

/** Starts the gateway on the start-up answerer's port. */
export async function startNodeGateway(p: NodeGatewayParts): Promise<Gateway> {
  const { bus, config, log } = p;
  // the gateway takes the start-up answerer's port over
  await p.starting.close();
  return startGateway({
    bus,
    host: config.httpHost,
    port: p.starting.port,
    maxPayload: config.maxPayload,
    duplicateWindowMs: config.duplicateWindowMs,
    headersTimeoutMs: config.httpHeadersTimeoutMs,
    requestTimeoutMs: config.httpRequestTimeoutMs,
    wsConsumerIdleMs: config.wsConsumerIdleMs,
    agents: agentDirectory(p.agents, config.defaultAgent),
    nodeId: config.nodeId,
    readiness: p.readiness,
    busProblem: () => p.health.problem(),
    observePublishError: (e) => p.health.observe(e),
    onRefused: (reason) => p.metrics.publishRefused.inc({ stage: "gateway", reason }),
    skills: p.skills.directory(() => p.cluster.alive.members()),
    channels: () => channelStatus(bus.nc),
    webhook: (type, account, req) => p.cluster.channels.webhook(type, account, req),
    metrics: p.metrics,
    liveView: p.ui.handle,
    access: p.access.options,
    hosts: config.httpHosts,
    origins: config.httpOrigins,
    maxConnections: config.httpMaxConnections,
    onConnectionsFull: (max, more) => log.warn({ max, more }, "connections refused: the gateway holds CLAW_HTTP_MAX_CONNECTIONS already"),
    webhooksOut: p.webhooks.directory,
    schedules: p.schedules,
    memory: p.memory.store,
    usage: p.usage.meter,
    approvals: p.approvals,
    media: p.media.store,
    audit: p.access.audit,
    onError: (e) => log.error({ err: e }, "gateway error"),
  });
}
