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
import type { Logger } from "../log.js";
import type { ClawMetrics } from "../observability/index.js";
import { sessionCount, turnQuotas, type TenantDirectory, type UsageMeter } from "../tenants/index.js";
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
  log: Logger,
  o: { tenants: TenantDirectory; metrics: ClawMetrics; usage: UsageMeter; members: KV; sessions: KV; jsm: JetStreamManager },
): Promise<NodeQuotas> {
  // the tenants and their quotas (KV claw_registry, followed by the node's tenants part: node-tenants.ts)
  const tenants = o.tenants;
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
    // the tenants' copy is the node's (its tenants part stops it)
    stop: () => clearInterval(timer),
  };
}
