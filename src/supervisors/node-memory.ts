/**
 * A node's part in agents' long-term memory: the store (KV `claw_memory`),
 * embeddings from the configured providers, and recall for the session host.
 * Every node reads and writes the same bucket: what a user told an agent on
 * one node is found by a turn on any other.
 */
import { BUCKETS, type Bus } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import type { Logger } from "../log.js";
import type { AgentRegistry } from "../actors/index.js";
import { DEFAULT_MEMORY_SETTINGS, memoryRecall, memoryStore, providerEmbeddings, type MemoryDeps, type Recall } from "../memory/index.js";

/** What the node's memory gives the skills, the session host and the gateway. */
export interface NodeMemory extends MemoryDeps {
  recall: Recall;
}

/** Opens the memory store and makes its embeddings and recall. */
export async function openNodeMemory(bus: Bus, config: ClawConfig, log: Logger, agents: Pick<AgentRegistry, "get">): Promise<NodeMemory> {
  const store = memoryStore(await bus.kvm.open(BUCKETS.memory));
  const embed = providerEmbeddings(config.providers, (provider, e) =>
    log.warn({ provider, err: (e as Error)?.message ?? String(e) }, "no embedding: memory is ranked by its words alone"),
  );
  const recall = memoryRecall({ store, embed }, (e) =>
    log.warn({ err: (e as Error)?.message ?? String(e) }, "memory recall failed: the turn goes on without it"),
  );
  return {
    store,
    embed,
    recall,
    settings: (id) => {
      const spec = agents.get(id)?.spec;
      return spec ? (spec.memory ?? DEFAULT_MEMORY_SETTINGS) : undefined;
    },
  };
}
