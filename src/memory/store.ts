/**
 * Long-term memory, kept in KV `claw_memory`: one entry per agent and scope
 * (`m.<agent>.<scope hash>`), holding that scope's memories — so a search or
 * a recall is one read, on whichever node the turn runs. Writes are
 * compare-and-set (two turns writing at once both land). A scope keeps its
 * newest memories up to {@link MAX_SCOPE_BYTES}; older ones make room.
 * Ranking is full text (MiniSearch: BM25, prefixes, small typos), and with
 * vectors from an embeddings provider, the two blended.
 */
import { createHash, randomBytes } from "node:crypto";
import type { KV } from "@nats-io/kv";
import MiniSearch from "minisearch";
import { z } from "zod";
import { MemoryScopeSchema, scopeHash, type MemoryScope } from "./scope.js";

/** What one scope may hold, in bytes of its stored entry (a JetStream message must fit the server's max payload). */
export const MAX_SCOPE_BYTES = 512 * 1024;
/** The longest memory, in characters. */
export const MAX_MEMORY_TEXT = 4000;

/** A memory's id: `m-<scope hash>-<12 hex digits>` — the scope it lives in can be read off it. */
export const MEMORY_ID = /^m-([0-9a-f]{24})-([0-9a-f]{12})$/;

const EntrySchema = z.object({
  id: z.string().regex(MEMORY_ID),
  text: z.string(),
  tags: z.array(z.string()).default([]),
  ts: z.number(),
  /** its embedding, float32 little-endian, base64 */
  v: z.string().optional(),
});
export type MemoryEntry = z.infer<typeof EntrySchema>;

const ScopeValueSchema = z.object({
  scope: MemoryScopeSchema,
  entries: z.array(EntrySchema),
});
type ScopeValue = z.infer<typeof ScopeValueSchema>;

/** A match. */
export interface MemoryHit {
  id: string;
  text: string;
  tags: string[];
  ts: number;
  score: number;
}

/** One scope's memories, as the operator lists them. */
export interface MemoryListing {
  agent: string;
  scope: MemoryScope;
  memories: Array<Omit<MemoryEntry, "v">>;
}

/** The memories of every agent. */
export interface MemoryStore {
  /** adds a memory; `key` makes it idempotent (a tool call's id: the same call run again writes once) */
  write(agent: string, scope: MemoryScope, m: { text: string; tags?: string[]; vector?: Float32Array; key?: string }): Promise<{ id: string }>;
  /** the best matches for `query` (with `vector`, blended with their similarity), best first */
  search(agent: string, scope: MemoryScope, query: string, o?: { limit?: number; vector?: Float32Array }): Promise<MemoryHit[]>;
  /** removes memory `id` of `agent` — only when it lives in `scope`, if one is given; false when there was none */
  forget(agent: string, id: string, scope?: MemoryScope): Promise<boolean>;
  /** the agent's scopes and their memories (one scope, when given), newest first */
  list(agent: string, scope?: MemoryScope): Promise<MemoryListing[]>;
}

const keyOf = (agent: string, hash: string) => `m.${agent}.${hash}`;
const encodeVector = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
function decodeVector(s: string): Float32Array {
  const b = Buffer.from(s, "base64");
  const copy = new Uint8Array(b.byteLength - (b.byteLength % 4));
  copy.set(b.subarray(0, copy.byteLength));
  return new Float32Array(copy.buffer);
}
function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length || a.length === 0) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** The entries' ranking for `query`: full text normalised to 0..1, blended half and half with vector similarity when both sides have vectors. */
export function rank(entries: readonly MemoryEntry[], query: string, vector?: Float32Array): Array<MemoryEntry & { score: number }> {
  const index = new MiniSearch<MemoryEntry>({
    fields: ["text", "tags"],
    extractField: (doc, field) => (field === "tags" ? doc.tags.join(" ") : String(doc[field as keyof MemoryEntry] ?? "")),
    searchOptions: { prefix: true, fuzzy: 0.2, combineWith: "OR" },
  });
  index.addAll(entries);
  const text = new Map<string, number>();
  const hits = query.trim() ? index.search(query) : [];
  const top = hits[0]?.score ?? 0;
  for (const h of hits) text.set(String(h.id), top > 0 ? h.score / top : 0);
  const scored = entries.map((e) => {
    const t = text.get(e.id) ?? 0;
    const v = vector && e.v ? Math.max(0, cosine(vector, decodeVector(e.v))) : undefined;
    return { ...e, score: v === undefined ? t : 0.5 * t + 0.5 * v };
  });
  return scored.filter((e) => e.score > 0).sort((a, b) => b.score - a.score || b.ts - a.ts);
}

/** Drops the oldest entries until the value fits. */
function fit(value: ScopeValue): string {
  let json = JSON.stringify(value);
  while (json.length > MAX_SCOPE_BYTES && value.entries.length > 1) {
    value.entries.sort((a, b) => a.ts - b.ts).shift();
    json = JSON.stringify(value);
  }
  return json;
}

/** The memory store of `kv` (`claw_memory`). */
export function memoryStore(kv: KV): MemoryStore {
  const read = async (key: string): Promise<{ value?: ScopeValue; revision: number }> => {
    const e = await kv.get(key);
    if (!e || e.operation !== "PUT") return { revision: e?.revision ?? 0 };
    const r = ScopeValueSchema.safeParse(JSON.parse(e.string()));
    return { value: r.success ? r.data : undefined, revision: e.revision };
  };
  /** read, change, write back if nobody wrote meanwhile (else again) */
  const change = async <T>(key: string, f: (v: ScopeValue | undefined) => { value?: ScopeValue; result: T }): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      const { value, revision } = await read(key);
      const next = f(value);
      if (!next.value) return next.result;
      try {
        if (revision === 0) await kv.create(key, fit(next.value));
        else await kv.update(key, fit(next.value), revision);
        return next.result;
      } catch (e) {
        if (attempt >= 20) throw e;
      }
    }
  };
  const entriesOf = async (agent: string, scope: MemoryScope) => (await read(keyOf(agent, scopeHash(scope)))).value?.entries ?? [];
  return {
    async write(agent, scope, m) {
      const hash = scopeHash(scope);
      const tail = (m.key ? createHash("sha256").update(m.key).digest() : randomBytes(6)).toString("hex").slice(0, 12);
      const id = `m-${hash}-${tail}`;
      const entry: MemoryEntry = {
        id,
        text: m.text.slice(0, MAX_MEMORY_TEXT),
        tags: m.tags ?? [],
        ts: Date.now(),
        ...(m.vector ? { v: encodeVector(m.vector) } : {}),
      };
      return change(keyOf(agent, hash), (v) => {
        if (v?.entries.some((e) => e.id === id)) return { result: { id } };
        return { value: { scope: v?.scope ?? scope, entries: [...(v?.entries ?? []), entry] }, result: { id } };
      });
    },
    async search(agent, scope, query, o = {}) {
      const ranked = rank(await entriesOf(agent, scope), query, o.vector);
      return ranked.slice(0, o.limit ?? 5).map((e) => ({ id: e.id, text: e.text, tags: e.tags, ts: e.ts, score: Math.round(e.score * 1000) / 1000 }));
    },
    async forget(agent, id, scope) {
      const m = MEMORY_ID.exec(id);
      if (!m || (scope && scopeHash(scope) !== m[1])) return false;
      return change(keyOf(agent, m[1]!), (v) => {
        if (!v?.entries.some((e) => e.id === id)) return { result: false };
        return { value: { ...v, entries: v.entries.filter((e) => e.id !== id) }, result: true };
      });
    },
    async list(agent, scope) {
      const keys: string[] = [];
      if (scope) keys.push(keyOf(agent, scopeHash(scope)));
      else for await (const k of await kv.keys(`m.${agent}.*`)) keys.push(k);
      const values = await Promise.all(keys.map(async (k) => (await read(k)).value));
      return values
        .filter((v): v is ScopeValue => v !== undefined && v.entries.length > 0)
        .map((v) => ({ agent, scope: v.scope, memories: v.entries.map(({ v: _v, ...e }) => e).sort((a, b) => b.ts - a.ts) }));
    },
  };
}
