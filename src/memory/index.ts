/** Long-term memory: the store (KV `claw_memory`), its scopes, the `memory.*` skills and recall. */
export {
  memoryStore,
  MAX_SCOPE_BYTES,
  MAX_MEMORY_TEXT,
  MEMORY_ID,
  rank,
  type MemoryStore,
  type MemoryHit,
  type MemoryListing,
  type MemoryEntry,
} from "./store.js";
export { MemoryScopeSchema, MemorySettingsSchema, scopeOf, scopeHash, type MemorySettings, type MemoryScope, type MemoryAddress } from "./scope.js";
export { providerEmbeddings, type Embed } from "./embeddings.js";
export { memorySkills, vectorFor, DEFAULT_MEMORY_SETTINGS, type MemoryDeps } from "./memory-skills.js";
export { memoryRecall, type Recall } from "./recall.js";
