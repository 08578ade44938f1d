/**
 * A node's copy of a quiet KV bucket, kept current by a watch: entries under
 * one key prefix, decoded, in memory. A watch that ends (NATS away for long)
 * is made again and its first pass builds the copy anew, so an entry deleted
 * meanwhile is not kept. What changes reaches every node within a moment.
 */
import type { KV } from "@nats-io/kv";

/** The live copy. */
export interface KvMirror<T> {
  get(id: string): T | undefined;
  values(): T[];
  readonly size: number;
  /** resolves once the bucket's current entries are in */
  readonly ready: Promise<void>;
  /**
   * resolves once the copy holds the bucket's `revision` (a write's, so this
   * node reads its own writes), or after `timeoutMs` (the watch is away)
   */
  caughtUp(revision: number, timeoutMs?: number): Promise<void>;
  stop(): void;
}

/**
 * Mirrors the entries `<prefix>.<id>` of `kv` (the bucket must hold nothing
 * else under the watched keys). `decode` returns undefined for an entry it
 * cannot read (it is left out); `onChange(id)` is told of every change.
 */
export function mirrorBucket<T>(
  kv: KV,
  o: { prefix: string; decode: (value: Uint8Array) => T | undefined; onChange?: (id: string) => void; onError?: (e: unknown) => void },
): KvMirror<T> {
  const entries = new Map<string, T>();
  let stopped = false;
  let watcher: { stop(): void } | undefined;
  let loaded!: () => void;
  const ready = new Promise<void>((r) => (loaded = r));
  /** the highest revision the copy (`entries`) holds, and who waits for a higher one */
  let applied = 0;
  const waiting = new Set<{ revision: number; done: () => void }>();
  const advance = (revision: number) => {
    applied = Math.max(applied, revision);
    for (const w of waiting) if (w.revision <= applied) w.done();
  };
  const apply = (into: Map<string, T>, key: string, operation: string, value: Uint8Array) => {
    const id = key.slice(o.prefix.length + 1);
    const v = operation === "PUT" ? o.decode(value) : undefined;
    if (v !== undefined) into.set(id, v);
    else into.delete(id);
    o.onChange?.(id);
  };
  void (async () => {
    while (!stopped) {
      try {
        const empty = (await kv.status()).values === 0;
        const w = await kv.watch({ key: `${o.prefix}.*` });
        watcher = w;
        if (stopped) return w.stop();
        let next: Map<string, T> | undefined = new Map();
        let nextRevision = 0;
        const caughtUp = () => {
          if (!next) return;
          entries.clear();
          for (const [k, v] of next) entries.set(k, v);
          next = undefined;
          loaded();
          advance(nextRevision);
        };
        if (empty) caughtUp();
        for await (const e of w) {
          apply(next ?? entries, e.key, e.operation, e.value);
          if (next) nextRevision = Math.max(nextRevision, e.revision);
          else advance(e.revision);
          if (next && e.delta === 0) caughtUp();
        }
      } catch (e) {
        if (!stopped) o.onError?.(e);
      }
      if (!stopped) await new Promise((r) => setTimeout(r, 1_000));
    }
  })();
  return {
    get: (id) => entries.get(id),
    values: () => [...entries.values()],
    get size() {
      return entries.size;
    },
    ready,
    caughtUp(revision, timeoutMs = 5_000) {
      if (revision <= applied || stopped) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const w = {
          revision,
          done: () => {
            clearTimeout(timer);
            waiting.delete(w);
            resolve();
          },
        };
        const timer = setTimeout(w.done, timeoutMs);
        waiting.add(w);
      });
    },
    stop() {
      stopped = true;
      watcher?.stop();
      loaded();
      for (const w of waiting) w.done();
    },
  };
}
