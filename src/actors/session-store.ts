/**
 * Session snapshots in KV `claw_sessions`: the XState persisted snapshot,
 * written with the expected revision (optimistic concurrency).
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { decode, encode, withRetry } from "../bus/index.js";
import { SnapshotConflictError } from "./errors.js";

/** Format version of a stored snapshot. */
const FORMAT = 1;

/** A snapshot as stored, with the KV revision it was read at (0 = absent). */
export interface StoredSnapshot {
  snapshot: unknown | undefined;
  revision: number;
}

/** Reads and writes session snapshots. */
export interface SessionStore {
  load(key: string): Promise<StoredSnapshot>;
  /** writes at `revision` (0 = must not exist yet); returns the new revision or throws {@link SnapshotConflictError} */
  save(key: string, snapshot: unknown, revision: number): Promise<number>;
}

function isConflict(e: unknown): boolean {
  return e instanceof JetStreamApiError && (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === 10164);
}

/** A {@link SessionStore} on a KV bucket. */
export function createSessionStore(kv: KV): SessionStore {
  return {
    async load(key) {
      const e = await withRetry(() => kv.get(key));
      if (!e || e.operation !== "PUT" || e.value.length === 0) return { snapshot: undefined, revision: e?.revision ?? 0 };
      const stored = decode<{ v: number; snapshot: unknown }>(e.value);
      return { snapshot: stored.v === FORMAT ? stored.snapshot : undefined, revision: e.revision };
    },
    async save(key, snapshot, revision) {
      const data = encode({ v: FORMAT, snapshot });
      try {
        return await withRetry(() => (revision === 0 ? kv.create(key, data) : kv.update(key, data, revision)));
      } catch (e) {
        if (isConflict(e)) throw new SnapshotConflictError(key, { cause: e });
        throw e;
      }
    },
  };
}
