/**
 * The actors the live view lists and inspects: live actors of every node
 * (`claw.ctl.actors`, one reply per node, merged) and a session's persisted
 * state (its snapshot in KV `claw_sessions`, secrets redacted).
 */
import type { KV } from "@nats-io/kv";
import { createSessionStore } from "../actors/index.js";
import { ACTORS_SUBJECT, askAll, BUCKETS, decodeToken, encodeToken, isLiteralToken, type Bus } from "../bus/index.js";
import { HttpError } from "../gateway/index.js";
import { stateName, type ActorEvents, type ActorKind, type ActorListing, type ActorQuery } from "../observability/index.js";
import { redactSecrets } from "./redact.js";

/** Every actor kind, checked against {@link ActorKind} by the compiler. */
const KINDS: Record<ActorKind, true> = { session: true, partition: true, node: true, skill: true, channel: true };

/** Parses an actor kind from a request; throws a 400 for an unknown one. */
export function parseKind(kind: string): ActorKind {
  if (!Object.hasOwn(KINDS, kind))
    throw new HttpError(400, "bad_kind", `unknown actor kind ${JSON.stringify(kind)} (kinds: ${Object.keys(KINDS).join(", ")})`, "kind");
  return kind as ActorKind;
}

/**
 * Checks an actor id from a request (literal subject tokens joined by dots; a session's is `<agent>.<session>`); throws a 400 for anything else, wildcards
 * included.
 */
export function parseActorId(id: string): string {
  if (id.length > 600 || !id.split(".").every(isLiteralToken))
    throw new HttpError(400, "bad_id", `not an actor id: ${JSON.stringify(id.slice(0, 80))} (subject tokens joined by dots)`, "id");
  return id;
}

/** A session key as `sessionKey()` builds it: two encoded tokens (also a valid KV key). */
const SESSION_KEY = /^[A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]+$/;

/** One live actor, with the node that runs it and, for sessions, the decoded agent and session. */
export interface ListedActor {
  kind: ActorKind;
  id: string;
  state: string;
  since: number;
  node: string;
  agent?: string;
  session?: string;
  /** the machine that draws it, when its kind has several (a session: its agent kind) */
  machine?: string;
}

/** The merged answer of every node. */
export interface ActorList {
  /** nodes that answered */
  nodes: string[];
  actors: ListedActor[];
}

/** A session's persisted state. */
export interface SessionDetail {
  kind: "session";
  id: string;
  agent: string;
  session: string;
  /** KV revision of the snapshot */
  revision: number;
  updatedAt: string;
  state: string;
  value: unknown;
  status: string;
  /** the snapshot's context (history, turns, lastTurnId, …), secrets redacted */
  context: unknown;
}

/** Splits a session key into its decoded agent and session. */
export function splitSessionKey(id: string): { agent: string; session: string } | undefined {
  const [agent, session, ...rest] = id.split(".");
  if (agent === undefined || session === undefined || rest.length > 0) return undefined;
  try {
    return { agent: decodeToken(agent), session: decodeToken(session) };
  } catch {
    return undefined;
  }
}

/**
 * Turns what a person types (`demo:c1`, `echo.web`) into the encoded form ids
 * are matched in, token by token.
 */
function encodedQuery(q: string): string {
  if (q.length > 200) throw new HttpError(400, "bad_query", "the search is longer than 200 characters", "q");
  return q
    .split(".")
    .map((part) => (part === "" ? "" : encodeToken(part)))
    .join(".");
}

/** Options of {@link createActorDirectory}. */
export interface ActorDirectoryOptions {
  bus: Bus;
  /** this node's own actors (answered without a round trip when no other node answers in time) */
  actorEvents: ActorEvents;
  /** how long to wait for the nodes' replies (ms) */
  maxWaitMs?: number;
}

/** Lists and inspects actors. */
export interface ActorDirectory {
  list(query: { kind?: ActorKind; q?: string; limit?: number }): Promise<ActorList>;
  session(id: string): Promise<SessionDetail>;
}

/** Creates the directory over a node's bus. */
export function createActorDirectory(o: ActorDirectoryOptions): ActorDirectory {
  let sessions: Promise<KV> | undefined;
  const sessionsKv = () => (sessions ??= o.bus.kvm.open(BUCKETS.sessions).catch((e: unknown) => ((sessions = undefined), Promise.reject(e))));

  async function listings(query: ActorQuery): Promise<ActorListing[]> {
    // every node answers; without replies in time, this node's own list below
    const isListing = (v: unknown): v is ActorListing => typeof (v as ActorListing)?.node === "string" && Array.isArray((v as ActorListing).actors);
    const out = await askAll(o.bus.nc, ACTORS_SUBJECT, JSON.stringify(query), isListing, o.maxWaitMs ?? 600);
    const self = o.actorEvents.list(query);
    if (!out.some((l) => l.node === self.node)) out.push(self);
    return out;
  }

  return {
    async list({ kind, q, limit }) {
      const query: ActorQuery = { ...(kind ? { kind } : {}), ...(q ? { q: encodedQuery(q) } : {}), limit: limit ?? 200 };
      const replies = await listings(query);
      // during a hand-over an actor may be live on two nodes for a moment: keep the newest
      const byId = new Map<string, ListedActor>();
      for (const l of replies) {
        for (const a of l.actors) {
          const k = `${a.kind}:${a.id}`;
          const prev = byId.get(k);
          if (prev && prev.since >= a.since) continue;
          const names = a.kind === "session" ? splitSessionKey(a.id) : undefined;
          byId.set(k, { ...a, node: l.node, ...names });
        }
      }
      const actors = [...byId.values()].sort((a, b) => b.since - a.since || a.id.localeCompare(b.id));
      return { nodes: replies.map((l) => l.node).sort(), actors };
    },

    async session(id) {
      const names = SESSION_KEY.test(id) ? splitSessionKey(id) : undefined;
      if (!names) throw new HttpError(400, "bad_id", `a session id is <agent>.<session> (two subject tokens), not ${JSON.stringify(id)}`, "id");
      const stored = await createSessionStore(await sessionsKv(), { jsm: o.bus.jsm }).load(id);
      if (stored.snapshot === undefined)
        throw new HttpError(404, "no_session", `no persisted state for session ${id} (it has not finished a turn yet, or it was deleted)`);
      const snap = stored.snapshot as { value?: unknown; status?: string; context?: unknown };
      return {
        kind: "session",
        id,
        ...names,
        revision: stored.revision,
        updatedAt: (stored.updatedAt ?? new Date(0)).toISOString(),
        state: stateName(snap.value),
        value: snap.value,
        status: snap.status ?? "unknown",
        context: redactSecrets(snap.context),
      };
    },
  };
}
