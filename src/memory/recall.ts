/**
 * Recall: an agent with `memory.recall: N` is given the N best memories for
 * the user's message with every model call, marked as recalled — a model that
 * never calls `memory.search` still knows what the user told it before. A
 * memory that cannot be read (KV away) leaves the turn without it rather
 * than failing it.
 */
import type { Envelope } from "../bus/index.js";
import type { MemoryDeps } from "./memory-skills.js";
import { vectorFor } from "./memory-skills.js";
import { scopeOf, type MemorySettings } from "./scope.js";

/** The recalled memories for a message, as a block for the model's instructions; undefined when there are none. */
export type Recall = (agent: { id: string; memory?: MemorySettings }, message: Envelope, signal?: AbortSignal) => Promise<string | undefined>;

/** Recall over the memory store. */
export function memoryRecall(deps: Pick<MemoryDeps, "store" | "embed">, onError?: (e: unknown) => void): Recall {
  return async (agent, m, signal) => {
    const s = agent.memory;
    if (!s || s.recall === 0 || !m.text?.trim()) return undefined;
    try {
      const scope = scopeOf(s.scope, { channel: m.channel, account: m.account, chat: m.chat, sender: m.sender.id });
      const hits = await deps.store.search(agent.id, scope, m.text, { limit: s.recall, vector: await vectorFor(deps, s, m.text, signal) });
      if (hits.length === 0) return undefined;
      return ["Recalled memory (from earlier conversations with this user; it may be out of date):", ...hits.map((h) => `- ${h.text}`)].join("\n");
    } catch (e) {
      onError?.(e);
      return undefined;
    }
  };
}
