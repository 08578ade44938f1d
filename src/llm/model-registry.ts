/**
 * The models a node can give an agent: the built-in scripted model, and the
 * providers configured in `CLAW_CONFIG` `providers`, chained for failover in
 * the order an agent names them (`model`, then `fallbacks`).
 */
import { ModelError } from "./errors.js";
import { createScriptedModel } from "./scripted-model.js";
import type { Model } from "./types.js";

/** The name of the built-in model. */
export const SCRIPTED = "scripted";

/** What a node resolves models from. */
export interface ModelRegistry {
  /** the model an agent asks for (its provider, then its fallbacks); throws a permanent {@link ModelError} for an unknown name */
  model(agent: { model: string; fallbacks: readonly string[]; tenant?: string }): Model;
  /** the names an agent (of `tenant`, when given: a tenant may bring its own providers) may use */
  names(tenant?: string): string[];
}

/** A registry of the scripted model and `chain`, which makes a failover model of named providers. */
export function createModelRegistry(o: { providers?: readonly string[]; chain?: (names: readonly string[]) => Model } = {}): ModelRegistry {
  const scripted = createScriptedModel();
  const known = new Set([SCRIPTED, ...(o.providers ?? [])]);
  const chains = new Map<string, Model>();
  return {
    model(agent) {
      const names = [agent.model, ...agent.fallbacks];
      const unknown = names.find((n) => !known.has(n));
      if (unknown) throw new ModelError("no_provider", `no provider named ${unknown} is configured on this node (known: ${[...known].join(", ")})`, false);
      if (agent.model === SCRIPTED) return scripted;
      const key = names.join("\u0000");
      let m = chains.get(key);
      if (!m) {
        if (!o.chain) throw new ModelError("no_provider", `no provider can be built for ${agent.model}`, false);
        chains.set(key, (m = o.chain(names.filter((n) => n !== SCRIPTED))));
      }
      return m;
    },
    names: () => [...known],
  };
}
