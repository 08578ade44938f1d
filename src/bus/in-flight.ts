/**
 * The handlers a consumer lane has running: how many at once, in which order,
 * and when they have all ended (what a drain waits for).
 */
import type { JsMsg } from "@nats-io/jetstream";

/**
 * How a lane runs its handlers. `serial`: one at a time, in stream order (the
 * next message is taken once the handler before it ended). `parallel`: side
 * by side, up to `maxInFlight`. `per-key`: side by side, up to `maxInFlight`,
 * but the messages of one key (a chat's subject) one after the other in
 * stream order.
 */
export type LaneOrdering = { kind: "serial" } | { kind: "parallel"; maxInFlight: number } | { kind: "per-key"; key: (m: JsMsg) => string; maxInFlight: number };

/** The running handlers of one lane (see {@link createInFlight}). */
export interface InFlight {
  /** handlers taken and not ended (those waiting behind their key included) */
  readonly size: number;
  /** how many may be in flight at once */
  readonly capacity: number;
  /** resolves once another handler may be taken, or when {@link InFlight.wake} is called */
  room(): Promise<void>;
  /** ends a wait for room (the lane stops or resets and must see it) */
  wake(): void;
  /** runs `handle` as the ordering says (after its key's previous one, for `per-key`); `handle` must not reject */
  run(m: JsMsg, handle: () => Promise<void>): void;
  /** resolves when no handler is in flight (those taken meanwhile included) */
  drained(): Promise<void>;
}

/** Creates the in-flight set of a lane with `ordering`. */
export function createInFlight(ordering: LaneOrdering): InFlight {
  const running = new Set<Promise<void>>();
  /** per key, the last handler taken: the next one of the key runs after it */
  const tails = new Map<string, Promise<void>>();
  const capacity = ordering.kind === "serial" ? 1 : Math.max(1, ordering.maxInFlight);
  let waiter: (() => void) | undefined;
  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };

  function track(t: Promise<void>): void {
    running.add(t);
    void t.finally(() => {
      running.delete(t);
      wake();
    });
  }

  return {
    get size() {
      return running.size;
    },
    capacity,
    async room() {
      // one waiter: only the lane's loop takes messages
      if (running.size >= capacity) await new Promise<void>((r) => (waiter = r));
    },
    wake,
    run(m, handle) {
      if (ordering.kind !== "per-key") return track(handle());
      const key = ordering.key(m);
      const t = (tails.get(key) ?? Promise.resolve()).then(handle);
      tails.set(key, t);
      void t.finally(() => {
        if (tails.get(key) === t) tails.delete(key);
      });
      track(t);
    },
    async drained() {
      while (running.size > 0) await Promise.all([...running]);
    },
  };
}
