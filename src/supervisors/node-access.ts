/**
 * A node's part in who may call its gateway: the API keys it watches in KV
 * `claw_auth`, the JWT issuer it trusts, the audit trail it writes, and — when
 * credentials are required but none can exist yet — the warning that says how
 * to make the first one; the rate limits it counts in shared buckets; and the
 * tenants (seeded from `CLAW_CONFIG`) whose quotas it enforces.
 */
import { jwtVerifier, kvRateLimiter, watchApiKeys } from "../auth/index.js";
import { BUCKETS, type Bus } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import type { AccessOptions } from "../gateway/access.js";
import type { Logger } from "../log.js";
import { createAudit, type Audit, type ClawMetrics } from "../observability/index.js";
import type { UsageMeter } from "../tenants/index.js";
import type { NodeQuotas } from "./node-quotas.js";

/** What the gateway is given, and the watch to stop with the node. */
export interface GatewayAccess {
  options: AccessOptions;
  audit: Audit;
  stop(): void;
}

/** Watches the API keys, trusts the JWT issuer, opens the audit trail and the rate-limit buckets, as `config` says. */
export async function gatewayAccess(
  bus: Bus,
  config: ClawConfig,
  log: Logger,
  o: { metrics?: ClawMetrics; usage?: UsageMeter; quotas: Pick<NodeQuotas, "tenants" | "limiter"> },
): Promise<GatewayAccess> {
  const keys = watchApiKeys(await bus.kvm.open(BUCKETS.auth), { onError: (e) => log.warn({ err: e }, "auth: watching the API keys failed; watching again") });
  const audit = createAudit(bus.publisher, {
    source: "http",
    node: config.nodeId,
    onError: (e) => log.warn({ err: e }, "audit: a record could not be written"),
  });
  if (config.authRequired) {
    void keys.ready.then(() => {
      if (keys.count() === 0 && !config.jwt) {
        log.warn(
          { http: `${config.httpHost}:${config.httpPort}` },
          "credentials are required here (off loopback, or CLAW_AUTH=required) and none exists yet: every request but /healthz and /readyz is " +
            "refused. Create a key with `claw keys create --scopes <scopes>` (e.g. `--scopes '*'` for an operator), or set CLAW_JWT_ISSUER",
        );
      }
    });
    log.info({ jwt: config.jwt?.issuer, metricsPublic: config.metricsPublic }, "credentials required on the gateway");
  }
  const limiter = kvRateLimiter(await bus.kvm.open(BUCKETS.rateLimits), {
    onError: (e) => log.warn({ err: e }, "rate limits: a bucket could not be read or written; the request was let through"),
  });
  const limits = config.rateLimits ? { limits: config.rateLimits, limiter } : undefined;
  return {
    options: {
      required: config.authRequired,
      keys,
      jwt: config.jwt ? jwtVerifier(config.jwt) : undefined,
      metricsPublic: config.metricsPublic,
      limits,
      quotas: {
        tenants: o.quotas.tenants,
        limiter: o.quotas.limiter,
        usage: o.usage,
        onRefused: (tenant, quota) => o.metrics?.tenantQuotaRefusals.inc({ tenant, quota }),
      },
    },
    audit,
    stop: () => keys.stop(),
  };
}
