/**
 * The models of a tenant that brings its own providers (`tenants[].providers`):
 * its agents name those, and only those (and the built-in `scripted`), instead
 * of the cluster's — a customer's turns go to its own account with the
 * provider, and never to the operator's. A tenant without providers uses the
 * cluster's. Each tenant's providers get clients and circuit breakers of their
 * own (named `<tenant>/<name>` in events and metrics), made again when the
 * tenant's providers change; their keys are read from the environment
 * variables they name, on the node that calls them.
 */
import { ModelError } from "./errors.js";
import type { ProviderCallEvent } from "./failover-model.js";
import { SCRIPTED, type ModelRegistry } from "./model-registry.js";
import type { TenantProvider } from "./provider-config.js";
import { createProviderModels, type ProviderModels } from "./provider-models.js";

/** Options of {@link tenantModels}. */
export interface TenantModelsOptions {
  /** the tenant's own providers, as they are now (undefined or empty: the tenant uses the cluster's) */
  providersOf: (tenant: string) => Readonly<Record<string, TenantProvider>> | undefined;
  /** where `apiKeyEnv` is read (default: `process.env`) */
  env?: NodeJS.ProcessEnv;
  onEvent?: (e: ProviderCallEvent) => void;
}

/** The cluster's models, with each tenant's own providers in front of its agents. */
export function tenantModels(cluster: ModelRegistry, o: TenantModelsOptions): ModelRegistry {
  const env = o.env ?? process.env;
  const built = new Map<string, { key: string; models: ProviderModels }>();
  const own = (tenant: string | undefined) => {
    const providers = tenant === undefined ? undefined : o.providersOf(tenant);
    return providers && Object.keys(providers).length > 0 ? providers : undefined;
  };
  function modelsOf(tenant: string, providers: Readonly<Record<string, TenantProvider>>): ProviderModels {
    const key = JSON.stringify(providers);
    const had = built.get(tenant);
    if (had?.key === key) return had.models;
    const settings = Object.fromEntries(
      Object.entries(providers).map(([name, p]) => {
        const apiKey = p.apiKeyEnv === undefined ? undefined : env[p.apiKeyEnv];
        if (p.apiKeyEnv !== undefined && !apiKey)
          throw new ModelError("no_provider", `tenant ${tenant}'s provider ${name}: the environment variable ${p.apiKeyEnv} is not set on this node`, false);
        return [`${tenant}/${name}`, { ...p, apiKey }];
      }),
    );
    const models = createProviderModels(settings, { onEvent: o.onEvent });
    built.set(tenant, { key, models });
    return models;
  }
  return {
    model(agent) {
      const providers = own(agent.tenant);
      if (agent.tenant === undefined || !providers) return cluster.model(agent);
      const names = [agent.model, ...agent.fallbacks];
      const unknown = names.find((n) => n !== SCRIPTED && !(n in providers));
      if (unknown)
        throw new ModelError(
          "no_provider",
          `no provider named ${unknown} among tenant ${agent.tenant}'s own (known: ${[SCRIPTED, ...Object.keys(providers)].join(", ")})`,
          false,
        );
      const q = (n: string) => (n === SCRIPTED ? n : `${agent.tenant}/${n}`);
      return modelsOf(agent.tenant, providers).registry.model({ model: q(agent.model), fallbacks: agent.fallbacks.map(q) });
    },
    names(tenant) {
      const providers = own(tenant);
      return providers ? [SCRIPTED, ...Object.keys(providers)] : cluster.names();
    },
  };
}
