/**
 * The actors a node has made visible to actor events, each with an XState
 * inspection observer only while someone watches it: an actor nobody watches
 * has no observer at all (XState then builds no inspection events), so the hot
 * path pays a map lookup when nobody looks.
 */
import type { InspectionEvent } from "xstate";
import type { ActorEvent, ActorKind, ActorListing, ActorQuery } from "./actor-event-protocol.js";
import { stateName } from "./state-name.js";

/** What actor events need of an XState actor. */
export interface InspectableActor {
  getSnapshot(): { value: unknown; status: string };
  readonly system: { inspect(observer: (e: InspectionEvent) => void): { unsubscribe(): void } };
}

/** Options of {@link liveActors}. */
export interface LiveActorsOptions {
  /** the node's id, in every event */
  node: string;
  now: () => number;
  /** whether someone watches this actor now */
  watched(kind: ActorKind, id: string): boolean;
  /** sends one event to its watchers */
  publish(e: ActorEvent): void;
}

/** The registered actors of a node and their observers. */
export interface LiveActors {
  /**
   * makes a `kind`/`id` actor visible, observed at once if someone watches it
   * already; `machine` names the machine that draws it, when its kind has several
   */
  register(kind: ActorKind, id: string, actor: InspectableActor, machine?: string): void;
  /** forgets a stopped actor (its watchers hear `@claw.stopped`) */
  forget(kind: ActorKind, id: string): void;
  /**
   * a watch of `kind`/`id` (`*`: any) arrived: the matching actors nobody
   * observed yet (all of them when `current`) are observed from now on, and
   * publish where they are now
   */
  show(kind: ActorKind | "*", id: string, current: boolean): void;
  /** detaches the observers whose watches lapsed, even from actors that never move again */
  detachUnwatched(): void;
  /** live actors matching `q` */
  list(q?: ActorQuery): ActorListing;
  /** events published so far */
  readonly published: number;
  /** observers attached now */
  readonly attached: number;
  /** detaches every observer */
  detachAll(): void;
}

interface Live {
  kind: ActorKind;
  id: string;
  machine?: string;
  actor: InspectableActor;
  seq: number;
  since: number;
  /** the inspection observer, attached only while someone watches this actor */
  attached?: { unsubscribe(): void };
}

const key = (kind: string, id: string) => `${kind}:${id}`;

/** An empty registry of a node's actors. Starts nothing: observers come with watches. */
export function liveActors(o: LiveActorsOptions): LiveActors {
  const live = new Map<string, Live>();
  let published = 0;
  let attachedCount = 0;

  function publish(l: Live, snapshot: { value: unknown; status: string }, event: string): void {
    l.seq++;
    published++;
    o.publish({
      kind: l.kind,
      id: l.id,
      node: o.node,
      state: stateName(snapshot.value),
      value: snapshot.value,
      machine: l.machine,
      event,
      status: snapshot.status,
      seq: l.seq,
      ts: o.now(),
    });
  }

  function attach(l: Live): void {
    if (l.attached) return;
    attachedCount++;
    l.attached = l.actor.system.inspect((e) => {
      // the root actor's own snapshots, not those of the promises it invokes
      if (e.type !== "@xstate.snapshot" || e.actorRef.sessionId !== e.rootId) return;
      if (!o.watched(l.kind, l.id)) return detach(l);
      const s = e.snapshot;
      publish(l, { value: "value" in s ? s.value : undefined, status: s.status }, e.event.type);
    });
  }

  function detach(l: Live): void {
    if (!l.attached) return;
    l.attached.unsubscribe();
    l.attached = undefined;
    attachedCount--;
  }

  return {
    register(kind, id, actor, machine) {
      const l: Live = { kind, id, machine, actor, seq: 0, since: o.now() };
      const previous = live.get(key(kind, id));
      if (previous) detach(previous);
      live.set(key(kind, id), l);
      if (o.watched(kind, id)) attach(l);
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
    show(kind, id, current) {
      for (const l of live.values()) {
        if ((kind !== "*" && kind !== l.kind) || (id !== "*" && id !== l.id)) continue;
        if (l.attached && !current) continue;
        // a new watcher sees where the actor is now, then its every move
        attach(l);
        publish(l, l.actor.getSnapshot(), "@claw.watch");
      }
    },
    detachUnwatched() {
      if (attachedCount === 0) return;
      for (const l of live.values()) if (l.attached && !o.watched(l.kind, l.id)) detach(l);
    },
    list(q = {}) {
      const limit = q.limit ?? 200;
      const actors: ActorListing["actors"] = [];
      for (const l of live.values()) {
        if (actors.length >= limit) break;
        if (q.kind && l.kind !== q.kind) continue;
        if (q.q && !l.id.includes(q.q)) continue;
        actors.push({ kind: l.kind, id: l.id, state: stateName(l.actor.getSnapshot().value), since: l.since, ...(l.machine ? { machine: l.machine } : {}) });
      }
      return { node: o.node, actors };
    },
    get published() {
      return published;
    },
    get attached() {
      return attachedCount;
    },
    detachAll() {
      for (const l of live.values()) detach(l);
    },
  };
}
