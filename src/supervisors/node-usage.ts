/**
 * A node's part in usage metering: the provider calls of its turns, counted
 * per tenant in metrics (`claw_tenant_tokens_total`) and in the cluster's
 * usage counters (KV `claw_usage`, src/tenants/usage.ts) that `/v1/usage`
 * reports and `tokensPerDay` is checked against.
 */
import { agentIdTenant } from "../actors/index.js";
import { BUCKETS, type Bus } from "../bus/index.js";
import type { ProviderCallEvent } from "../llm/index.js";
import type { Logger } from "../log.js";
import type { ClawMetrics } from "../observability/index.js";
import { usageMeter, type UsageMeter } from "../tenants/index.js";

/** The meter, and what counts a provider call into it. */
export interface NodeUsage {
  meter: UsageMeter;
  /** counts a provider call that reported its tokens (in the background: a turn never waits for it) */
  observe(e: ProviderCallEvent): void;
}

/** Opens the usage counters. */
export async function nodeUsage(bus: Bus, metrics: ClawMetrics, log: Logger): Promise<NodeUsage> {
  const meter = usageMeter(await bus.kvm.open(BUCKETS.usage));
  return {
    meter,
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
