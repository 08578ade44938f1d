/**
 * The sessions a node holds, by key: each with its agent kind's driver (the
 * kind's effects bound once per node), its queue and its actor; sessions
 * idle long enough are passivated (their snapshot is already in KV: only the
 * memory is freed).
 */
import { sessionKey } from "../bus/index.js";
import type { AgentDeps } from "./agent-deps.js";
import type { AgentSpec } from "./agents.js";
import { UnknownAgentKindError } from "./errors.js";
import { createLiveSession, type SessionInspection } from "./live-session.js";
import { createSessionQueue } from "./session-queue.js";
import type { SessionStore } from "./session-store.js";
import type { HostedSession } from "./turn-runner.js";
import type { AgentKind, TurnDriver } from "./turn.js";

/** Options of {@link createSessionTable}. */
export interface SessionTableOptions {
  kinds: ReadonlyMap<string, AgentKind>;
  deps: AgentDeps;
  store: SessionStore;
  inspection?: SessionInspection;
  onEvent?: (e: { type: "session.spawned"; key: string; restored: boolean } | { type: "session.passivated"; key: string }) => void;
}

/** The sessions of a node. */
export interface SessionTable {
  /** the agent's session, held from now on; throws {@link UnknownAgentKindError} when its kind is not known here */
  get(agent: AgentSpec, session: string): HostedSession;
  /** sessions whose actor is in memory */
  readonly active: number;
  /** forgets every session idle since `cutoff` (ms since epoch); returns how many */
  passivateIdle(cutoff: number): number;
  /** waits for everything queued on every session, then stops every actor */
  stopAll(): Promise<void>;
}

/** Creates an empty table. */
export function createSessionTable(o: SessionTableOptions): SessionTable {
  const sessions = new Map<string, HostedSession>();
  const drivers = new Map<AgentKind, TurnDriver>();
  const emit = o.onEvent ?? (() => {});

  function driverOf(kind: AgentKind): TurnDriver {
    let driver = drivers.get(kind);
    if (!driver) drivers.set(kind, (driver = kind.driver(o.deps)));
    return driver;
  }

  return {
    get(agent, session) {
      const key = sessionKey(agent.id, session);
      let s = sessions.get(key);
      if (!s) {
        const kind = o.kinds.get(agent.kind);
        if (!kind) throw new UnknownAgentKindError(agent.id, agent.kind, [...o.kinds.keys()]);
        const live = createLiveSession({
          key,
          kind,
          store: o.store,
          inspection: o.inspection,
          onSpawned: (restored) => emit({ type: "session.spawned", key, restored }),
        });
        s = { key, live, driver: driverOf(kind), queue: createSessionQueue() };
        sessions.set(key, s);
      }
      return s;
    },
    get active() {
      let n = 0;
      for (const s of sessions.values()) if (s.live.live) n++;
      return n;
    },
    passivateIdle(cutoff) {
      let n = 0;
      for (const [key, s] of sessions) {
        if (!s.queue.idleSince(cutoff)) continue;
        // the snapshot is already in KV (written after every turn): passivating only frees memory
        s.live.drop();
        sessions.delete(key);
        emit({ type: "session.passivated", key });
        n++;
      }
      return n;
    },
    async stopAll() {
      await Promise.all([...sessions.values()].map((s) => s.queue.settled()));
      for (const s of sessions.values()) s.live.drop();
      sessions.clear();
    },
  };
}
