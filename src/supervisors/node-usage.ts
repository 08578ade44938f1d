/**
 * A node's part in usage metering: the provider calls of its turns, counted
 * per tenant in metrics (`claw_tenant_tokens_total`) and in the cluster's
 * usage counters (KV `claw_usage`, src/tenants/usage.ts) that `/v1/usage`
 * reports and `tokensPerDay` is checked against.
 */
import { agentIdTenant } from "../actors/index.js";
import { BUCKETS, decodeToken, type Bus } from "../bus/index.js";
import type { ProviderCallEvent } from "../llm/index.js";
import type { Logger } from "../log.js";
import type { ClawMetrics } from "../observability/index.js";
import type { PartitionEvent, SessionHostEvent } from "../actors/index.js";
import type { SkillWorkerEvent } from "../skills/index.js";
import { usageMeter, type UsageActivity, type UsageMeter } from "../tenants/index.js";

/** The agent of a session key (`<agent>.<session>`, each token encoded). */
function agentOfSessionKey(key: string): string | undefined {
  const token = key.split(".")[0];
  try {
    return token ? decodeToken(token) : undefined;
  } catch {
    return undefined;
  }
}

/** The meter, and what counts a provider call, a turn, a skill run and a message into it. */
export interface NodeUsage {
  meter: UsageMeter;
  /** counts a provider call that reported its tokens (in the background: a turn never waits for it) */
  observe(e: ProviderCallEvent): void;
  /** a message that came for an agent (in), and the error notice of one that failed or was refused (out) */
  observePartition(e: PartitionEvent): void;
  /** a turn answered: a turn, and its reply (out) */
  observeHost(e: SessionHostEvent): void;
  /** a skill run to its end for an agent's turn */
  observeSkill(e: SkillWorkerEvent): void;
  /** writes what is counted and not yet written */
  stop(): Promise<void>;
}

/** Opens the usage counters. */
export async function nodeUsage(bus: Bus, metrics: ClawMetrics, log: Logger): Promise<NodeUsage> {
  const meter = usageMeter(await bus.kvm.open(BUCKETS.usage), { onError: (err) => log.warn({ err }, "usage: activity could not be counted") });
  const count = (agent: string, d: UsageActivity) => meter.count({ agent, tenant: agentIdTenant(agent), ...d });
  return {
    meter,
    observePartition(e) {
      if (e.type !== "message.settled" || e.outcome === "released") return;
      count(e.agent, { messagesIn: 1, messagesOut: e.outcome === "failed" ? 1 : 0 });
    },
    observeHost(e) {
      if (e.type !== "turn.answered") return;
      const agent = agentOfSessionKey(e.key);
      if (agent !== undefined) count(agent, { turns: 1, messagesOut: 1 });
    },
    observeSkill(e) {
      if (e.type === "skill.completed" && e.agent !== undefined) count(e.agent, { skillInvocations: 1, skillMs: e.durationMs });
    },
    stop: () => meter.flush(),
    observe(e) {
      if (e.outcome !== "ok" || !e.usage || e.agent === undefined) return;
      const tenant = agentIdTenant(e.agent);
      if (tenant !== undefined) {
        metrics.tenantTokens.inc({ tenant, kind: "prompt" }, e.usage.promptTokens);
        metrics.tenantTokens.inc({ tenant, kind: "completion" }, e.usage.completionTokens);
      }
      const counted = { agent: e.agent, tenant, promptTokens: e.usage.promptTokens, completionTokens: e.usage.completionTokens };
      meter.record(counted).catch((err: unknown) => log.warn({ err, agent: e.agent }, "usage: a provider call could not be counted"));
    },
  };
}
