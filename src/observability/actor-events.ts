/**
 * Live actor events: XState's inspection API feeds
 * `claw.events.actor.<kind>.<id>` on core NATS, but only for actors someone
 * watches, so the hot path pays a map lookup when nobody looks.
 *
 * Protocol (core NATS, JSON bodies):
 * - `claw.ctl.watch` ← {@link WatchRequest}: "publish events of these actors
 *   for `ttlMs`". Watchers repeat it before it expires. Nodes answer by
 *   publishing the current state of the matching actors nobody watched yet
 *   (all matching actors when the request says `current`).
 * - `claw.ctl.actors` ← request {@link ActorQuery}; every node replies with
 *   {@link ActorListing} (collect the replies for a short while).
 * - `claw.events.actor.<kind>.<id>` → {@link ActorEvent}. A session's id is its
 *   session key (`<agent>.<session>`, each an encoded token), so
 *   `claw.events.actor.session.<agent>.>` watches one agent's sessions.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { InspectionEvent } from "xstate";

/** Subject prefix of actor events. */
export const ACTOR_EVENTS_PREFIX = "claw.events.actor";
/** Where watch requests are published. */
export const WATCH_SUBJECT = "claw.ctl.watch";
/** Where live actors are listed (request/reply, one reply per node). */
export const ACTORS_SUBJECT = "claw.ctl.actors";

/** The kinds of actors a node runs. */
export type ActorKind = "session" | "partition" | "node" | "skill" | "channel";

/** "publish events of these actors"; `id` absent or `*` means every actor of the kind. */
export interface WatchRequest {
  kind: ActorKind | "*";
  id?: string;
  /** how long the watch holds without being repeated (ms, capped at 5 min) */
  ttlMs: number;
  /**
   * send the matching actors' current state now, even those someone else
   * already watches (a new watcher sets it on its first request; renewals don't)
   */
  current?: boolean;
}

/** One transition (or the current state, when `event` is `@claw.watch`). */
export interface ActorEvent {
  kind: ActorKind;
  id: string;
  node: string;
  /** the state as a dotted path (`thinking`, `running.draining`) */
  state: string;
  /** XState's state value, for nested and parallel states */
  value: unknown;
  /** the type of the event that caused this state (`xstate.init`, `inbound.received`, `xstate.done.actor.0.session.thinking`, …) */
  event: string;
  /** `active`, `done`, `error` or `stopped` */
  status: string;
  /** per-actor counter on this node */
  seq: number;
  ts: number;
}

/** A query for live actors. */
export interface ActorQuery {
  kind?: ActorKind;
  /** substring of the id */
  q?: string;
  /** per node (default 200) */
  limit?: number;
}

/** One node's answer to {@link ActorQuery}. */
export interface ActorListing {
  node: string;
  actors: Array<{ kind: ActorKind; id: string; state: string; since: number }>;
}

/** The subject of one actor's events (`id` must already be made of subject tokens). */
export function actorEventSubject(kind: ActorKind, id: string): string {
  return `${ACTOR_EVENTS_PREFIX}.${kind}.${id}`;
}

/**
 * Flattens an XState state value into dotted paths of its active leaves,
 * parallel regions joined by `|`: `{ b: { r1: "x", r2: "p" } }` → `b.r1.x|b.r2.p`.
 */
export function stateName(value: unknown): string {
  return leafPaths(value).join("|");
}

function leafPaths(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (!value || typeof value !== "object") return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    const inner = leafPaths(v);
    return inner.length ? inner.map((p) => `${k}.${p}`) : [k];
  });
}

/** What actor events need of an XState actor. */
export interface InspectableActor {
  getSnapshot(): { value: unknown; status: string };
  readonly system: { inspect(observer: (e: InspectionEvent) => void): { unsubscribe(): void } };
}

interface Live {
  kind: ActorKind;
  id: string;
  actor: InspectableActor;
  seq: number;
  since: number;
  /** the inspection observer, attached only while someone watches this actor */
  attached?: { unsubscribe(): void };
}

/** The actor events of one node. */
export interface ActorEvents {
  /** makes a `kind`/`id` actor visible (call before `start()` to see its first state) */
  register(kind: ActorKind, id: string, actor: InspectableActor): void;
  /** forget a stopped actor */
  forget(kind: ActorKind, id: string): void;
  /** true when someone watches this actor now */
  watched(kind: ActorKind, id: string): boolean;
  /** live actors of this node */
  list(query?: ActorQuery): ActorListing;
  /** published events (for the bench and metrics) */
  readonly published: number;
  /** inspection observers attached now */
  readonly attached: number;
  close(): void;
}

const MAX_TTL_MS = 5 * 60_000;

/**
 * Starts the watch listener of a node and returns its event source. An actor
 * nobody watches has no inspection observer at all (XState then builds no
 * inspection events); a watch attaches one through `actor.system.inspect`,
 * and it is detached when the watch expires.
 */
export function createActorEvents(nc: NatsConnection, nodeId: string, now: () => number = Date.now): ActorEvents {
  /** `kind:id` (id may be `*`) → expiry */
  const watches = new Map<string, number>();
  const live = new Map<string, Live>();
  let published = 0;
  let attachedCount = 0;
  const subs: Subscription[] = [];

  const key = (kind: string, id: string) => `${kind}:${id}`;

  function watched(kind: ActorKind, id: string): boolean {
    if (watches.size === 0) return false;
    const t = now();
    for (const k of [key(kind, id), key(kind, "*"), key("*", "*")]) {
      const until = watches.get(k);
      if (until === undefined) continue;
      if (until > t) return true;
      watches.delete(k);
    }
    return false;
  }

  function publish(l: Live, snapshot: { value: unknown; status: string }, event: string): void {
    l.seq++;
    const e: ActorEvent = { kind: l.kind, id: l.id, node: nodeId, state: stateName(snapshot.value), value: snapshot.value, event, status: snapshot.status, seq: l.seq, ts: now() };
    published++;
    nc.publish(actorEventSubject(l.kind, l.id), JSON.stringify(e));
  }

  function attach(l: Live): void {
    if (l.attached) return;
    attachedCount++;
    l.attached = l.actor.system.inspect((e) => {
      // the root actor's own snapshots, not those of the promises it invokes
      if (e.type !== "@xstate.snapshot" || e.actorRef.sessionId !== e.rootId) return;
      if (!watched(l.kind, l.id)) return detach(l);
      publish(l, { value: "value" in e.snapshot ? e.snapshot.value : undefined, status: e.snapshot.status }, e.event.type);
    });
  }

  function detach(l: Live): void {
    if (!l.attached) return;
    l.attached.unsubscribe();
    l.attached = undefined;
    attachedCount--;
  }

  // watches that lapse detach their observers even if the actor never moves again
  const sweeper = setInterval(() => {
    if (attachedCount === 0) return;
    for (const l of live.values()) if (l.attached && !watched(l.kind, l.id)) detach(l);
  }, 1_000);
  sweeper.unref();

  subs.push(
    nc.subscribe(WATCH_SUBJECT, {
      callback: (err, m) => {
        if (err) return;
        let w: WatchRequest;
        try {
          w = m.json<WatchRequest>();
        } catch {
          return;
        }
        if (typeof w?.kind !== "string" || !(Number(w.ttlMs) > 0)) return;
        const id = w.id && w.id !== "" ? w.id : "*";
        watches.set(key(w.kind, id), now() + Math.min(Number(w.ttlMs), MAX_TTL_MS));
        for (const l of live.values()) {
          if ((w.kind !== "*" && w.kind !== l.kind) || (id !== "*" && id !== l.id)) continue;
          if (l.attached && w.current !== true) continue;
          // a new watcher sees where the actor is now, then its every move
          attach(l);
          publish(l, l.actor.getSnapshot(), "@claw.watch");
        }
      },
    }),
    nc.subscribe(ACTORS_SUBJECT, {
      callback: (err, m) => {
        if (err || !m.reply) return;
        let q: ActorQuery = {};
        try {
          q = m.data.length ? m.json<ActorQuery>() : {};
        } catch {
          /* list everything */
        }
        m.respond(JSON.stringify(list(q)));
      },
    }),
  );

  function list(q: ActorQuery = {}): ActorListing {
    const limit = q.limit ?? 200;
    const actors: ActorListing["actors"] = [];
    for (const l of live.values()) {
      if (actors.length >= limit) break;
      if (q.kind && l.kind !== q.kind) continue;
      if (q.q && !l.id.includes(q.q)) continue;
      actors.push({ kind: l.kind, id: l.id, state: stateName(l.actor.getSnapshot().value), since: l.since });
    }
    return { node: nodeId, actors };
  }

  return {
    register(kind, id, actor) {
      const l: Live = { kind, id, actor, seq: 0, since: now() };
      const previous = live.get(key(kind, id));
      if (previous) detach(previous);
      live.set(key(kind, id), l);
      if (watched(kind, id)) attach(l);
    },
    forget(kind, id) {
      const l = live.get(key(kind, id));
      if (!l) return;
      live.delete(key(kind, id));
      if (l.attached) {
        publish(l, { value: l.actor.getSnapshot().value, status: "stopped" }, "@claw.stopped");
        detach(l);
      }
    },
    watched,
    list,
    get published() {
      return published;
    },
    get attached() {
      return attachedCount;
    },
    close() {
      clearInterval(sweeper);
      for (const l of live.values()) detach(l);
      for (const s of subs) s.unsubscribe();
    },
  };
}
