/**
 * The live actor events protocol, on core NATS with JSON bodies:
 * - `claw.ctl.watch` ← {@link WatchRequest}: "publish events of these actors
 *   for `ttlMs`". Watchers repeat it before it expires. Nodes answer by
 *   publishing the current state of the matching actors nobody watched yet
 *   (all matching actors when the request says `current`).
 * - `claw.ctl.actors` ← request {@link ActorQuery}; every node replies with
 *   {@link ActorListing} (collect the replies for a short while).
 * - `claw.events.actor.<kind>.<id>` → {@link ActorEvent}. A session's id is its
 *   session key (`<agent>.<session>`, each an encoded token), so
 *   `claw.events.actor.session.<agent>.>` watches one agent's sessions.
 *
 * The subjects are built in bus/subjects.ts (`WATCH_SUBJECT`,
 * `ACTORS_SUBJECT`, `actorEventSubject`).
 */

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
  /** the machine that draws it, when its kind has several (a session: its agent kind) */
  machine?: string;
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
  actors: Array<{ kind: ActorKind; id: string; state: string; since: number; machine?: string }>;
}
