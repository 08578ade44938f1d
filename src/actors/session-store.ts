/**
 * Session snapshots in KV `claw_sessions`: the XState persisted snapshot,
 * written with the expected revision (optimistic concurrency).
 *
 * When every turn of a session's history is in `CLAW_TRANSCRIPTS` (the
 * snapshot's `historyRefs`), the history is left out of the stored snapshot
 * and read back from the transcript stream on load: a turn then writes a few
 * hundred bytes instead of its whole history, and a passivated session costs
 * the same whatever its history length.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { decode, encode, kvKeySubject, STREAMS, withRetry, type Envelope, type JsPublish, type JsPublisher } from "../bus/index.js";
import type { Turn } from "../llm/index.js";
import { SnapshotConflictError, SnapshotFormatError } from "./errors.js";
import { historyInTranscripts, type SessionMemory } from "./session-memory.js";

/** One turn as the transcript stream keeps it. */
export interface TranscriptEntry {
  agent: string;
  session: string;
  user: Envelope;
  assistant: Envelope;
}

/**
 * Format version of a stored snapshot. Raised only when a snapshot's shape
 * changes so that an older node would misread it; an older node then leaves
 * such sessions alone (SnapshotFormatError) instead of overwriting them.
 */
const FORMAT = 1;

/** A snapshot as stored, with the KV revision it was read at (0 = absent). */
export interface StoredSnapshot {
  snapshot: unknown | undefined;
  revision: number;
  /** when this revision was written */
  updatedAt?: Date;
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

/** As stored: `history: "transcripts"` when the context's history was left out. */
interface Stored {
  v: number;
  snapshot: { context?: SessionMemory } & Record<string, unknown>;
  history?: "transcripts";
}

/** Reads the turns `refs` name from the transcript stream (a missing one, e.g. expired, is skipped). */
async function historyFromTranscripts(jsm: JetStreamManager, refs: number[], limit: number): Promise<Turn[]> {
  const entries = await Promise.all(
    refs.map((seq) =>
      withRetry(() => jsm.streams.getMessage(STREAMS.transcripts, { seq })).catch((e: unknown) => {
        if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.NoMessageFound) return null;
        throw e;
      }),
    ),
  );
  const turns = entries.flatMap((m): Turn[] => {
    if (!m) return [];
    const t = decode<TranscriptEntry>(m.data);
    return [
      { role: "user", text: t.user.text ?? "", id: t.user.id, ts: t.user.ts },
      { role: "assistant", text: t.assistant.text ?? "", id: t.assistant.id, ts: t.assistant.ts },
    ];
  });
  return turns.length > limit ? turns.slice(turns.length - limit) : turns;
}

/** Options of {@link createSessionStore}. */
export interface SessionStoreOptions {
  /** the JetStream manager to read `CLAW_TRANSCRIPTS` with: histories that are all there are stored by reference */
  jsm?: JetStreamManager;
  /**
   * writes snapshots with this publisher (the bus' shared-inbox one) instead of the KV client:
   * the same write — a publish to `$KV.<bucket>.<key>` expecting the key's last revision
   */
  publisher?: { js: JsPublish & Partial<Pick<JsPublisher, "lastBySubject">>; bucket: string };
}

/** What KV takes as a key (its client's own check): a wildcard or a space is none. */
const KV_KEY = /^[-/=\w]+(\.[-/=\w]+)*$/;

/** A KV entry as the store reads it. */
interface Entry {
  operation: string;
  value: Uint8Array;
  revision: number;
  created: Date;
}

/** A {@link SessionStore} on a KV bucket. */
export function createSessionStore(kv: KV, o: SessionStoreOptions = {}): SessionStore {
  const transcripts = o.jsm ? { jsm: o.jsm } : undefined;
  const write = o.publisher
    ? async (key: string, data: Uint8Array, revision: number) =>
        (await o.publisher!.js.publish(kvKeySubject(o.publisher!.bucket, key), data, { expect: { lastSubjectSequence: revision } })).seq
    : (key: string, data: Uint8Array, revision: number) => (revision === 0 ? kv.create(key, data) : kv.update(key, data, revision));
  // reads with the publisher's direct get when the bucket allows them (asked once; a bucket made without them would
  // leave such a request unanswered), else with the KV client
  let direct: Promise<boolean> | undefined;
  const allowsDirect = () =>
    (direct ??= kv.status().then(
      (st) => st.streamInfo.config.allow_direct === true,
      () => ((direct = undefined), false),
    ));
  const read = async (key: string): Promise<Entry | null> => {
    const p = o.publisher;
    // a key KV would refuse (a wildcard would read another key's message) goes the KV client's way, to be refused there
    if (!p?.js.lastBySubject || !KV_KEY.test(key) || !(await allowsDirect())) return kv.get(key);
    const m = await p.js.lastBySubject(`KV_${p.bucket}`, kvKeySubject(p.bucket, key));
    return m && { operation: m.headers?.get("KV-Operation") || "PUT", value: m.data, revision: m.seq, created: m.time };
  };
  return {
    async load(key) {
      const e = await withRetry(() => read(key));
      if (!e || e.operation !== "PUT" || e.value.length === 0) return { snapshot: undefined, revision: e?.revision ?? 0 };
      const stored = decode<Stored>(e.value);
      // a newer format is not this node's to read or to overwrite; an older one would be migrated here (there is none)
      if (typeof stored.v === "number" && stored.v > FORMAT) throw new SnapshotFormatError(key, stored.v, FORMAT);
      if (stored.v !== FORMAT) return { snapshot: undefined, revision: e.revision, updatedAt: e.created };
      const ctx = stored.snapshot.context;
      if (stored.history === "transcripts" && ctx?.historyRefs) {
        if (!transcripts) throw new Error(`session ${key} keeps its history in ${STREAMS.transcripts}: the store needs a JetStream manager to read it`);
        const history = await historyFromTranscripts(transcripts.jsm, ctx.historyRefs, ctx.historyLimit);
        return { snapshot: { ...stored.snapshot, context: { ...ctx, history } }, revision: e.revision, updatedAt: e.created };
      }
      return { snapshot: stored.snapshot, revision: e.revision, updatedAt: e.created };
    },
    async save(key, snapshot, revision) {
      const snap = snapshot as Stored["snapshot"];
      const ctx = snap.context;
      const byRef = transcripts !== undefined && ctx !== undefined && historyInTranscripts(ctx);
      const data = encode(
        byRef ? ({ v: FORMAT, snapshot: { ...snap, context: { ...ctx, history: [] } }, history: "transcripts" } satisfies Stored) : { v: FORMAT, snapshot },
      );
      try {
        return await withRetry(() => write(key, data, revision));
      } catch (e) {
        if (isConflict(e)) throw new SnapshotConflictError(key, { cause: e });
        throw e;
      }
    },
  };
}
