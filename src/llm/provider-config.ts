/**
 * What an OpenAI-compatible provider is configured with: `CLAW_CONFIG`
 * `providers.<name>`, and a tenant's own (`tenants[].providers.<name>`,
 * src/tenants), which takes its key only from an environment variable.
 */
import { z } from "zod";

/** A provider's name: letters, digits, `_` and `-`. */
export const PROVIDER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** One OpenAI-compatible provider (`CLAW_CONFIG` `providers.<name>`). */
export const ProviderConfigSchema = z
  .object({
    baseURL: z.string().url(),
    model: z.string().min(1),
    apiKey: z.string().min(1).optional(),
    /** the environment variable that holds the key (preferred: keys stay out of files) */
    apiKeyEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .optional(),
    timeoutMs: z.number().int().min(100).max(600_000).default(60_000),
    /** retries of a 429, 5xx, timeout or refused connection before the next provider */
    maxRetries: z.number().int().min(0).max(10).default(2),
    /** consecutive failures that open the provider's circuit (it is then skipped without waiting) */
    circuitFailures: z.number().int().min(1).max(1000).default(5),
    /** how long an open circuit waits before one request probes the provider again */
    circuitCooldownMs: z.number().int().min(100).max(3_600_000).default(30_000),
  })
  .strict();
export type ProviderConfig = z.infer<typeof ProviderConfigSchema>;

/** A tenant's own provider: a provider's settings, its key only from `apiKeyEnv` (tenants are kept in KV, which holds no keys). */
export const TenantProviderSchema = ProviderConfigSchema.omit({ apiKey: true });
export type TenantProvider = z.infer<typeof TenantProviderSchema>;

/** A tenant's providers by name. */
export const TenantProvidersSchema = z.record(z.string().regex(PROVIDER_NAME, "provider names: letters, digits, _ and -"), TenantProviderSchema);
