/**
 * A node's sessions: the session host that runs every agent's turns on this
 * node, with what the agents' effects may use of it (publishing, the agents'
 * specs and models, the skills, tracing, streamed reply pieces on core NATS,
 * cancelling tools), its snapshots in KV `claw_sessions` (histories held in
 * `CLAW_TRANSCRIPTS` by reference).
 */
import type { KV } from "@nats-io/kv";
import type { NodeMemory } from "./node-memory.js";
import { startSessionHost, createSessionStore, type AgentDeps, type AgentRegistry, type ApprovalGate, type SessionHost } from "../actors/index.js";
import { BUCKETS, deltaSubject, encodeReplyPiece, SKILL_CANCEL_SUBJECT, type BusHealth, type Bus } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import type { ModelRegistry } from "../llm/index.js";
import type { Logger } from "../log.js";
import type { ActorEvents, ClawMetrics, Tracing } from "../observability/index.js";
import type { NodeUsage } from "./node-usage.js";
import type { SkillCatalog } from "../skills/index.js";
import { failpointsFrom } from "./failpoints.js";
import { retryBackoff } from "./node-provision.js";
import { observeSessionHost } from "./node-observers.js";

/** What {@link nodeSessionHost} wires. */
export interface NodeSessionsOptions {
  bus: Bus;
  config: ClawConfig;
  log: Logger;
  /** the buckets: KV `claw_sessions` holds the snapshots */
  store: { kv: { sessions: KV } };
  agents: AgentRegistry;
  models: ModelRegistry;
  skills: SkillCatalog;
  tracing: Tracing;
  inspection: ActorEvents;
  busHealth: BusHealth;
  metrics: ClawMetrics;
  /** recall of the agents' memories into their turns */
  memory: Pick<NodeMemory, "recall">;
  /** where turns ask for approvals */
  approvals: ApprovalGate;
  /** usage metering: the turns answered */
  usage?: Pick<NodeUsage, "observeHost">;
}

/** The session host of this node (`CLAW_FAILPOINTS` armed in it, for crash tests). */
export function nodeSessionHost(o: NodeSessionsOptions): SessionHost {
  const { bus, config } = o;
  const failpoint = failpointsFrom(config.failpoints, o.log);
  const deps: AgentDeps = {
    js: bus.publisher,
    nodeId: config.nodeId,
    partitions: config.partitions,
    agent: (id) => o.agents.get(id)?.spec,
    model: (agent) => o.models.model(agent),
    skills: o.skills,
    transcripts: config.transcripts,
    tracing: o.tracing,
    // streamed pieces of replies: best effort on core NATS, for whoever waits (the chat completions endpoint)
    delta: (to, replyTo, seq, text) => bus.nc.publish(deltaSubject(to), encodeReplyPiece({ replyTo, seq, text })),
    approvals: o.approvals,
    cancelTools: (ids) => bus.nc.publish(SKILL_CANCEL_SUBJECT, JSON.stringify({ ids })),
    recall: (agent, message, signal) => o.memory.recall(agent, message, signal),
    failpoint,
  };
  return startSessionHost({
    // histories all in CLAW_TRANSCRIPTS are stored by reference and read back from there
    store: createSessionStore(o.store.kv.sessions, { jsm: bus.jsm, publisher: { js: bus.publisher, bucket: BUCKETS.sessions } }),
    deps,
    maxDeliver: config.maxDeliver,
    backoff: retryBackoff(config),
    idleMs: config.idleMs,
    turnTimeoutMs: config.turnTimeoutMs,
    keepAliveMs: Math.max(500, Math.floor(config.ackWaitMs / 3)),
    failpoint,
    inspection: o.inspection,
    busHealth: o.busHealth,
    onEvent: (e) => {
      observeSessionHost(e, o.metrics, o.log);
      o.usage?.observeHost(e);
    },
  });
}
