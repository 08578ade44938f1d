/**
 * Tenants: the teams or customers sharing one cluster, their quotas, and
 * where they are kept.
 */
export { QUOTA_NAMES, QuotasSchema, TENANT_ID, TenantIdSchema, TenantSchema, type QuotaName, type Quotas, type Tenant } from "./tenant.js";
export { seedTenants, tenantStore, watchTenants, type StoredTenant, type TenantDirectory, type TenantStore } from "./tenant-store.js";
export { dayOf, secondsToNextDay, usageMeter, type UsageActivity, type UsageCounts, type UsageMeter, type UsageRow } from "./usage.js";
export { accountSubjects, tenantNatsAccount, tenantNatsConfig, tenantPasswordEnv, type TenantChannelAccount } from "./nats-config.js";
export { sessionCount, type SessionCount } from "./session-count.js";
export { turnQuotas, type QuotaAnswer, type QuotaTurn, type TurnQuotas, type TurnQuotasOptions } from "./turn-quotas.js";
