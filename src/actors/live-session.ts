/**
 * One session's actor in a node's memory: restored from its snapshot in KV
 * when first needed, written back at the revision it was read at (so two
 * owners can never both move a session on), and dropped whenever memory may
 * have run ahead of KV — the next use restores it from the truth.
 */
import { createActor, type AnyActorRef, type Snapshot } from "xstate";
import type { SessionStore } from "./session-store.js";
import type { AgentKind, TurnInput } from "./turn.js";

/** Who is told when a session actor starts and stops (the live view's actor events). */
export interface SessionInspection {
  /** `machine` names the agent kind whose machine draws it */
  register(kind: "session", id: string, actor: AnyActorRef, machine?: string): void;
  forget(kind: "session", id: string): void;
}

/** Options of {@link createLiveSession}. */
export interface LiveSessionOptions {
  key: string;
  kind: AgentKind;
  store: SessionStore;
  inspection?: SessionInspection;
  /** told when the actor is spawned, `restored` from a snapshot or new */
  onSpawned?: (restored: boolean) => void;
}

/** What bringing a session's actor into memory took, in ms. */
export interface SessionSpawn {
  /** reading it from KV (and its history from the transcripts): a miss for a new session */
  loadMs: number;
  /** creating and starting its actor */
  createMs: number;
  /** from a stored snapshot (false: a new session) */
  restored: boolean;
}

/** A session's actor, as the host holds it. */
export interface LiveSession {
  readonly key: string;
  /** true while the actor is in memory */
  readonly live: boolean;
  /** the KV revision the next save expects (0: nothing stored yet, the first write creates it) */
  readonly revision: number;
  /** what the last spawn took, once: undefined when the actor was not spawned since the last call */
  takeSpawn(): SessionSpawn | undefined;
  /** the actor, restored from its snapshot (or new, from `input`) when it is not in memory */
  actor(input: TurnInput): Promise<AnyActorRef>;
  /** writes `snapshot` at the revision last read or written; throws `SnapshotConflictError` when another owner wrote since */
  save(snapshot: unknown): Promise<void>;
  /** stops and forgets the actor: the next use restores it from KV */
  drop(): void;
}

/** Creates the holder of one session's actor; nothing is loaded until {@link LiveSession.actor} is called. */
export function createLiveSession(o: LiveSessionOptions): LiveSession {
  let current: AnyActorRef | undefined;
  let revision = 0;
  let spawn: SessionSpawn | undefined;
  return {
    key: o.key,
    get live() {
      return current !== undefined;
    },
    get revision() {
      return revision;
    },
    takeSpawn() {
      const s = spawn;
      spawn = undefined;
      return s;
    },
    async actor(input) {
      if (current) return current;
      const loading = performance.now();
      const stored = await o.store.load(o.key);
      const creating = performance.now();
      // what the store gives back is what this kind's machine persisted (getPersistedSnapshot)
      const snapshot = stored.snapshot as Snapshot<unknown> | undefined;
      const actor = createActor(o.kind.machine, snapshot ? { input, snapshot } : { input });
      o.inspection?.register("session", o.key, actor, o.kind.name);
      actor.start();
      current = actor;
      revision = stored.revision;
      spawn = { loadMs: creating - loading, createMs: performance.now() - creating, restored: stored.snapshot !== undefined };
      o.onSpawned?.(spawn.restored);
      return actor;
    },
    async save(snapshot) {
      revision = await o.store.save(o.key, snapshot, revision);
    },
    drop() {
      if (current) o.inspection?.forget("session", o.key);
      current?.stop();
      current = undefined;
    },
  };
}
