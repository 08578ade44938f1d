/**
 * A node's agents: the registry in KV `claw_registry`, changed without
 * restarts (`POST /v1/agents` on any node), which `CLAW_CONFIG` seeds — a
 * file given by path owns the agents it seeded (one it no longer lists is
 * removed), defaults only fill what is missing — and the registry as the
 * gateway sees it.
 */
import type { KV } from "@nats-io/kv";
import { openAgentRegistry, type AgentRegistry } from "../actors/index.js";
import type { ClawConfig } from "../config.js";
import type { AgentDirectory } from "../gateway/index.js";
import type { ModelRegistry } from "../llm/index.js";
import type { Logger } from "../log.js";

/** Opens the registry (agents may name the models `models` has) and seeds it from `CLAW_CONFIG`. */
export async function openNodeAgents(kv: KV, models: ModelRegistry, config: ClawConfig, log: Logger): Promise<AgentRegistry> {
  const registry = await openAgentRegistry(
    kv,
    { models: (tenant) => models.names(tenant) },
    { onError: (e) => log.warn({ err: e }, "agent registry entry ignored") },
  );
  try {
    if (config.agentsFrom === "file") {
      const removed = await registry.seed(config.agents, { prune: true });
      if (removed.length) log.info({ agents: removed }, "agents an earlier CLAW_CONFIG seeded and this one does not list: removed");
    } else {
      await registry.seedDefaults(config.agents);
    }
  } catch (e) {
    registry.close();
    throw e;
  }
  return registry;
}

/** The registry as the gateway's `/v1/agents` and `/v1/models` see it; `POST /v1/agents` may rank an agent's bindings with `priority`. */
export function agentDirectory(registry: AgentRegistry, defaultAgent: string | undefined): AgentDirectory & { has(id: string): boolean } {
  return {
    has: (id) => registry.get(id) !== undefined,
    list: () => registry.routing(defaultAgent).agents,
    routes: () => registry.routing(defaultAgent).routes,
    get: (id) => registry.get(id),
    put: (input) => {
      const { priority, ...spec } = (input ?? {}) as { priority?: unknown };
      return registry.put(spec, "api", typeof priority === "number" ? priority : undefined);
    },
  };
}
