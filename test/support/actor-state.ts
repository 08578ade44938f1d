/**
 * Waiting in tests for an actor to be in a state, through the live actor
 * events a node publishes for watched actors (`claw.ctl.watch`): the event
 * that proves a precondition such as "the turn is in progress", where a
 * sleep would only assume it.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { actorEventSubject, WATCH_SUBJECT } from "../../src/bus/index.js";
import type { ActorEvent, ActorKind, WatchRequest } from "../../src/observability/index.js";

/** A watch on one actor that can be awaited for a state. */
export interface ActorStateWatch {
  /** every event seen so far */
  readonly events: ActorEvent[];
  /** resolves with the first event (seen so far or later) whose state is `state` */
  until(state: string, timeoutMs?: number): Promise<ActorEvent>;
  stop(): void;
}

/**
 * Watches actor `kind`/`id` (on every node) until stopped. Start it before
 * the actor gets the message that moves it: the nodes publish its
 * transitions from the moment they have the watch.
 */
export async function watchActor(nc: NatsConnection, kind: ActorKind, id: string): Promise<ActorStateWatch> {
  const events: ActorEvent[] = [];
  const sub = nc.subscribe(actorEventSubject(kind, id), { callback: (_e, m) => void events.push(m.json<ActorEvent>()) });
  const ttlMs = 10_000;
  const watch = (current: boolean) => nc.publish(WATCH_SUBJECT, JSON.stringify({ kind, id, ttlMs, current } satisfies WatchRequest));
  watch(true);
  // renewed well before it lapses, for tests that wait longer than one ttl
  const renew = setInterval(() => watch(false), ttlMs / 2);
  await nc.flush();
  return {
    events,
    async until(state, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const e = events.find((x) => x.state === state);
        if (e) return e;
        if (Date.now() > deadline)
          throw new Error(`${kind} ${id} was not seen in state ${state} within ${timeoutMs} ms (seen: ${events.map((x) => x.state).join(", ") || "nothing"})`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    stop() {
      clearInterval(renew);
      sub.unsubscribe();
    },
  };
}
