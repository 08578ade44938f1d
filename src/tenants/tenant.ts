/**
 * Tenants: the teams or customers sharing one cluster. A tenant is data — its
 * id and its quotas — kept in KV `claw_registry` (`tenant.<id>`), seeded from
 * `CLAW_CONFIG` `tenants[]` and changed with `claw tenants set`; every node
 * follows the bucket, so a change applies without a restart. The schemas are
 * strict: a field they do not know is refused, naming it.
 */
import { z } from "zod";
import { TenantProvidersSchema } from "../llm/provider-config.js";

/** A tenant id: lowercase letters, digits, `_` and `-` (it qualifies agent ids as `<tenant>/<agent>`). */
export const TENANT_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** A tenant id, checked. */
export const TenantIdSchema = z.string().regex(TENANT_ID, "a tenant id: lowercase letters, digits, _ and - (at most 64)");

const limit = (max: number) => z.number().int().min(1).max(max);

/** What a tenant may use; an absent quota is no limit. */
export const QuotasSchema = z
  .object({
    /** messages into the tenant's agents per minute, over HTTP and gRPC (429 past it) */
    messagesPerMinute: limit(10_000_000).optional(),
    /** turns of the tenant's agents running at once */
    concurrentTurns: limit(1_000_000).optional(),
    /** sessions the tenant may hold */
    sessions: limit(1_000_000_000).optional(),
    /** prompt + completion tokens per UTC day, as the providers report them */
    tokensPerDay: limit(Number.MAX_SAFE_INTEGER).optional(),
  })
  .strict();
export type Quotas = z.infer<typeof QuotasSchema>;

/** One tenant (`CLAW_CONFIG` `tenants[]`). */
export const TenantSchema = z
  .object({
    id: TenantIdSchema,
    quotas: QuotasSchema.default({}),
    /** the tenant's own model providers: its agents use these instead of the cluster's (each key from the `apiKeyEnv` every node has) */
    providers: TenantProvidersSchema.optional(),
  })
  .strict();
export type Tenant = z.infer<typeof TenantSchema>;

/** The quota names, as metrics and errors name them. */
export const QUOTA_NAMES = ["messagesPerMinute", "concurrentTurns", "sessions", "tokensPerDay"] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];
