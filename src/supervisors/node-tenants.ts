/**
 * A node's tenants: `CLAW_CONFIG` `tenants[]` seeded into KV `claw_registry`,
 * and the live copy every part reads — the gateway its quotas, the models each
 * tenant's own providers. Loaded before the agents are seeded, so that an
 * agent may name its tenant's providers.
 */
import type { KV } from "@nats-io/kv";
import type { ClawConfig } from "../config.js";
import type { Logger } from "../log.js";
import { seedTenants, tenantStore, watchTenants, type TenantDirectory } from "../tenants/index.js";

/** Seeds the file's tenants and follows them all; resolves once they are in. */
export async function openNodeTenants(registry: KV, config: ClawConfig, log: Logger): Promise<TenantDirectory> {
  const seeded = await seedTenants(tenantStore(registry), config.tenants);
  if (seeded.length) log.info({ tenants: seeded }, "tenants seeded from CLAW_CONFIG");
  const tenants = watchTenants(registry, { onError: (e) => log.warn({ err: e }, "tenants: watching them failed; watching again") });
  // the copy is ready once the watch delivered what is there; with no tenant at all it delivers nothing, so there is nothing to wait for
  if ((await tenantStore(registry).list()).length > 0) await tenants.ready;
  return tenants;
}
