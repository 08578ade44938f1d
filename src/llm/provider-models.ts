/**
 * The models of a node's configured providers: one provider client and one
 * circuit breaker per provider name (shared by every agent that names it),
 * chained for failover in the order an agent names them.
 */
import { createCircuitBreaker } from "./circuit-breaker.js";
import { createFailoverModel, type GuardedProvider, type ProviderCallEvent } from "./failover-model.js";
import { createModelRegistry, type ModelRegistry } from "./model-registry.js";
import { createOpenAIProvider, type OpenAIProviderConfig } from "./openai-provider.js";

/** A provider's configuration with its breaker's settings. */
export interface ProviderSettings extends OpenAIProviderConfig {
  /** consecutive failures that open its circuit */
  circuitFailures: number;
  /** ms its open circuit waits before a probe */
  circuitCooldownMs: number;
}

/** A node's models, and the state of its providers' circuits. */
export interface ProviderModels {
  registry: ModelRegistry;
  /** provider name → true while its circuit is open */
  circuits(): Record<string, boolean>;
}

/** Builds the registry of `providers`. */
export function createProviderModels(
  providers: Readonly<Record<string, ProviderSettings>>,
  o: { onEvent?: (e: ProviderCallEvent) => void } = {},
): ProviderModels {
  const guarded = new Map<string, GuardedProvider>(
    Object.entries(providers).map(([name, cfg]) => [
      name,
      { provider: createOpenAIProvider(name, cfg), breaker: createCircuitBreaker({ failures: cfg.circuitFailures, cooldownMs: cfg.circuitCooldownMs }) },
    ]),
  );
  return {
    registry: createModelRegistry({
      providers: [...guarded.keys()],
      chain: (names) =>
        createFailoverModel(
          names.map((n) => guarded.get(n)!),
          { onEvent: o.onEvent },
        ),
    }),
    circuits: () => Object.fromEntries([...guarded].map(([name, g]) => [name, g.breaker.state !== "closed"])),
  };
}
