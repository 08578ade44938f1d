/**
 * A node's part in the tenants' quotas: the tenants it follows (KV
 * `claw_registry`, seeded from `CLAW_CONFIG`), the shared buckets their
 * message quotas are counted in (`claw_ratelimit`), the sessions each holds
 * (`claw_usage`), and the answer its partitions ask before a turn runs
 * (src/tenants/turn-quotas.ts). The gateway checks the same tenants at its door.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { agentIdTenant, type TurnAdmission } from "../actors/index.js";
import { bucketKey, kvRateLimiter, type RateLimiter } from "../auth/index.js";
import { BUCKETS, type Bus } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import type { Logger } from "../log.js";
import type { ClawMetrics } from "../observability/index.js";
import { seedTenants, sessionCount, tenantStore, turnQuotas, watchTenants, type TenantDirectory, type UsageMeter } from "../tenants/index.js";
import { liveMembers } from "./membership.js";

/** How often a node counts the live nodes (each allows its share of `concurrentTurns`). */
const NODES_EVERY_MS = 2_000;

/** The tenants, their buckets, and the partitions' answer to a turn. */
export interface NodeQuotas {
  tenants: TenantDirectory;
  limiter: RateLimiter;
  admission: TurnAdmission;
  stop(): void;
}

/** The key of a tenant's message bucket: the gateway's and the partitions' are one. */
export const tenantMessagesBucket = (tenant: string) => bucketKey("tenant.messages", tenant);

/** Follows the tenants and answers turns by their quotas. */
export async function nodeQuotas(
  bus: Bus,
  config: ClawConfig,
  log: Logger,
  o: { metrics: ClawMetrics; usage: UsageMeter; members: KV; sessions: KV; jsm: JetStreamManager },
): Promise<NodeQuotas> {
  // the tenants and their quotas, in KV claw_registry: CLAW_CONFIG seeds them, every node follows them
  const registry = await bus.kvm.open(BUCKETS.registry);
  const seeded = await seedTenants(tenantStore(registry), config.tenants);
  if (seeded.length) log.info({ tenants: seeded }, "tenants seeded from CLAW_CONFIG");
  const tenants = watchTenants(registry, { onError: (e) => log.warn({ err: e }, "tenants: watching them failed; watching again") });
  const limiter = kvRateLimiter(await bus.kvm.open(BUCKETS.rateLimits), {
    onError: (e) => log.warn({ err: e }, "rate limits: a bucket could not be read or written; the request was let through"),
  });
  let nodes = 1;
  const countNodes = () =>
    liveMembers(o.members, o.jsm).then(
      (m) => void (nodes = Math.max(1, m.size)),
      (err: unknown) => log.debug({ err }, "quotas: the live nodes could not be counted; keeping the last count"),
    );
  void countNodes();
  const timer = setInterval(() => void countNodes(), NODES_EVERY_MS);
  timer.unref();
  const quotas = turnQuotas({
    tenantOf: agentIdTenant,
    quotas: (tenant) => tenants.get(tenant)?.tenant.quotas,
    tokensToday: (tenant) => o.usage.tokensToday(tenant),
    takeMessage: (tenant, perMinute) => limiter.take(tenantMessagesBucket(tenant), { perSecond: perMinute / 60, burst: perMinute }),
    sessions: sessionCount(await bus.kvm.open(BUCKETS.usage), o.sessions),
    nodes: () => nodes,
    onRefused: (tenant, quota) => o.metrics.tenantQuotaRefusals.inc({ tenant, quota }),
    onWaiting: (tenant, quota) => o.metrics.tenantQuotaWaits.inc({ tenant, quota }),
  });
  return {
    tenants,
    limiter,
    admission: quotas,
    stop: () => {
      clearInterval(timer);
      tenants.stop();
    },
  };
}
