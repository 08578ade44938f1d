/**
 * The bus' condition as a node knows it: at most two problems — the
 * connection's (the client's status events) and the probe's (a PONG and a
 * JetStream write) — and the listeners told when the bus stops or starts
 * serving. The connection's problem goes first: while it lasts, the probe's
 * says nothing new.
 */

/** Why the bus cannot serve now. `reason` is what `/readyz` and the logs say. */
export interface BusProblem {
  code: "nats_disconnected" | "nats_not_responding" | "jetstream_unavailable" | "storage_full";
  reason: string;
  /** ms since epoch when it began */
  since: number;
  /** the error that showed it, if any */
  detail?: string;
}

/** Changes of the bus' condition. */
export type BusHealthEvent =
  | { type: "bus.unavailable"; problem: BusProblem }
  | { type: "bus.available"; downMs: number }
  /** the client connected again after losing its connection: consumers should take their mailboxes over again */
  | { type: "bus.reconnected"; server: string };

/** Who saw a problem: the connection's status events, or the probe (and callers' refused writes). */
export type ProblemSource = "connection" | "probe";

/** The bus' current problems and who listens to their changes. */
export interface BusCondition {
  /** the current problem (the connection's first), or undefined when the bus serves */
  problem(): BusProblem | undefined;
  /** true while the connection itself is lost */
  disconnected(): boolean;
  /**
   * Sets the problem `source` sees (undefined: none), telling listeners when
   * the bus stops or starts serving. A problem that goes on with the same
   * code keeps its start; with a new code it is a new problem.
   */
  set(source: ProblemSource, code: BusProblem["code"] | undefined, detail?: string): void;
  /** tells every listener */
  emit(e: BusHealthEvent): void;
  /** calls `listener` on every change; returns the unsubscribe */
  subscribe(listener: (e: BusHealthEvent) => void): () => void;
  /** resolves once the bus is available (at once if it is), or when `signal` aborts */
  whenAvailable(signal?: AbortSignal): Promise<void>;
  /** forgets every listener */
  clear(): void;
}

const REASONS: Record<BusProblem["code"], string> = {
  nats_disconnected: "nats: disconnected",
  nats_not_responding: "nats: not responding",
  jetstream_unavailable: "jetstream: unavailable",
  storage_full: "jetstream: storage full",
};

/** A bus with no problem known yet, and no listener. */
export function busCondition(): BusCondition {
  const problems: Record<ProblemSource, BusProblem | undefined> = { connection: undefined, probe: undefined };
  const listeners = new Set<(e: BusHealthEvent) => void>();
  const current = () => problems.connection ?? problems.probe;
  const emit = (e: BusHealthEvent) => {
    for (const l of listeners) l(e);
  };
  const subscribe = (listener: (e: BusHealthEvent) => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  return {
    problem: current,
    disconnected: () => problems.connection !== undefined,
    set(source, code, detail) {
      const before = current();
      const was = problems[source];
      problems[source] = code === undefined ? undefined : was?.code === code ? was : { code, reason: REASONS[code], since: Date.now(), detail };
      const after = current();
      if (!before && after) emit({ type: "bus.unavailable", problem: after });
      else if (before && !after) emit({ type: "bus.available", downMs: Date.now() - before.since });
    },
    emit,
    subscribe,
    whenAvailable(signal) {
      if (!current() || signal?.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = () => {
          unsubscribe();
          signal?.removeEventListener("abort", done);
          resolve();
        };
        const unsubscribe = subscribe((e) => {
          if (e.type === "bus.available") done();
        });
        signal?.addEventListener("abort", done, { once: true });
      });
    },
    clear: () => listeners.clear(),
  };
}
