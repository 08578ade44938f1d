/**
 * Which actors someone watches now: each watch request holds for its `ttlMs`
 * (at most 5 minutes) unless it is repeated, and lapses on its own.
 */
import type { ActorKind, WatchRequest } from "./actor-event-protocol.js";

/** The watches a node was asked for, and until when each holds. */
export interface ActorWatches {
  /** records a watch (or renews it); returns the id it covers (`*`: every actor of its kind) */
  add(w: WatchRequest): string;
  /** true when someone watches this actor now (lapsed watches are dropped on the way) */
  watched(kind: ActorKind, id: string): boolean;
}

const MAX_TTL_MS = 5 * 60_000;

const key = (kind: string, id: string) => `${kind}:${id}`;

/** An empty watch table, on the clock `now`. Starts nothing: a watch lapses when it is next looked at. */
export function actorWatches(now: () => number): ActorWatches {
  /** `kind:id` (id may be `*`) → expiry */
  const until = new Map<string, number>();
  return {
    add(w) {
      const id = w.id && w.id !== "" ? w.id : "*";
      until.set(key(w.kind, id), now() + Math.min(Number(w.ttlMs), MAX_TTL_MS));
      return id;
    },
    watched(kind, id) {
      if (until.size === 0) return false;
      const t = now();
      for (const k of [key(kind, id), key(kind, "*"), key("*", "*")]) {
        const expiry = until.get(k);
        if (expiry === undefined) continue;
        if (expiry > t) return true;
        until.delete(k);
      }
      return false;
    },
  };
}
