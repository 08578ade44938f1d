/**
 * Live actor events of one node: XState's inspection API feeds
 * `claw.events.actor.<kind>.<id>` on core NATS, but only for actors someone
 * watches (the protocol: actor-event-protocol.ts). This module answers the
 * protocol's two requests — watches, and listings — from the node's watch
 * table (actor-watches.ts) and its registered actors (live-actors.ts).
 */
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { actorEventSubject, ACTORS_SUBJECT, WATCH_SUBJECT } from "../bus/index.js";
import type { ActorKind, ActorListing, ActorQuery, WatchRequest } from "./actor-event-protocol.js";
import { actorWatches } from "./actor-watches.js";
import { liveActors, type InspectableActor } from "./live-actors.js";

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

/** A watch request as sent, or undefined when it is not one (anyone may publish on the subject). */
function watchRequestOf(m: Msg): WatchRequest | undefined {
  let w: WatchRequest;
  try {
    w = m.json<WatchRequest>();
  } catch {
    return undefined;
  }
  return typeof w?.kind === "string" && Number(w.ttlMs) > 0 ? w : undefined;
}

/** A listing query as sent; anything unreadable lists everything. */
function actorQueryOf(m: Msg): ActorQuery {
  try {
    return m.data.length ? m.json<ActorQuery>() : {};
  } catch {
    return {};
  }
}

/**
 * Starts the watch listener of a node and returns its event source. An actor
 * nobody watches has no inspection observer at all (XState then builds no
 * inspection events); a watch attaches one through `actor.system.inspect`,
 * and it is detached when the watch expires.
 */
export function createActorEvents(nc: NatsConnection, nodeId: string, now: () => number = Date.now): ActorEvents {
  const watches = actorWatches(now);
  const actors = liveActors({ node: nodeId, now, watched: watches.watched, publish: (e) => nc.publish(actorEventSubject(e.kind, e.id), JSON.stringify(e)) });

  // watches that lapse detach their observers even if the actor never moves again
  const sweeper = setInterval(() => actors.detachUnwatched(), 1_000);
  sweeper.unref();

  const subs = [
    nc.subscribe(WATCH_SUBJECT, {
      callback: (err, m) => {
        const w = err ? undefined : watchRequestOf(m);
        if (!w) return;
        const id = watches.add(w);
        actors.show(w.kind, id, w.current === true);
      },
    }),
    nc.subscribe(ACTORS_SUBJECT, {
      callback: (err, m) => {
        if (err || !m.reply) return;
        m.respond(JSON.stringify(actors.list(actorQueryOf(m))));
      },
    }),
  ];

  return {
    register: actors.register,
    forget: actors.forget,
    watched: watches.watched,
    list: actors.list,
    get published() {
      return actors.published;
    },
    get attached() {
      return actors.attached;
    },
    close() {
      clearInterval(sweeper);
      actors.detachAll();
      for (const s of subs) s.unsubscribe();
    },
  };
}
