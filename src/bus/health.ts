/**
 * Whether the bus can serve now: the NATS connection's status events, and a
 * probe that every second asks the server for a PONG and writes one small
 * JetStream message. A node reads it for readiness (`/readyz`), to fail HTTP
 * requests fast instead of letting them hang, to hold a turn (not count it as
 * failed) while NATS is away, and to resynchronise its consumers once the
 * connection is back.
 *
 * The connection alone says too little: a stalled server (SIGSTOP, a network
 * cut) keeps the TCP connection open and the client notices only after its
 * pings go unanswered, and a connected server may refuse every write (its
 * store is full) or have no JetStream leader.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { within } from "./delay.js";
import { isStorageFull } from "./retry.js";

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

/** Options of {@link watchBusHealth}. */
export interface BusHealthOptions {
  nc: NatsConnection;
  /** one small JetStream write (a KV put): proves the store takes writes now */
  probeWrite: () => Promise<unknown>;
  /** ms between probes (default 1 s) */
  intervalMs?: number;
  /** a PONG or write slower than this counts as failed (default 2 s) */
  timeoutMs?: number;
  /**
   * consecutive slow or failed probes before the bus counts as unavailable
   * (default 2): one slow answer on a loaded machine is not an outage. A
   * disconnect or a full store counts at once.
   */
  failuresToTrip?: number;
}

/** The bus' condition, kept up to date until closed. */
export interface BusHealth {
  /** the current problem, or undefined when the bus serves */
  problem(): BusProblem | undefined;
  available(): boolean;
  /** resolves once the bus is available (at once if it is), or when `signal` aborts */
  whenAvailable(signal?: AbortSignal): Promise<void>;
  /** a failure a caller saw (a refused publish): a full store counts at once, until a probe write succeeds */
  observe(error: unknown): void;
  /** calls `listener` on every change; returns the unsubscribe */
  subscribe(listener: (e: BusHealthEvent) => void): () => void;
  close(): void;
}

const REASONS: Record<BusProblem["code"], string> = {
  nats_disconnected: "nats: disconnected",
  nats_not_responding: "nats: not responding",
  jetstream_unavailable: "jetstream: unavailable",
  storage_full: "jetstream: storage full",
};

class ProbeTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what} took longer than ${ms} ms`);
    this.name = "ProbeTimeout";
  }
}

/** Starts watching a connection; the first probe runs at once. */
export function watchBusHealth(o: BusHealthOptions): BusHealth {
  const intervalMs = o.intervalMs ?? 1_000;
  const timeoutMs = o.timeoutMs ?? 2_000;
  const trip = o.failuresToTrip ?? 2;
  const listeners = new Set<(e: BusHealthEvent) => void>();
  let connection: BusProblem | undefined;
  let probed: BusProblem | undefined;
  let failures = 0;
  let probing = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  const current = () => connection ?? probed;
  const emit = (e: BusHealthEvent) => {
    for (const l of listeners) l(e);
  };
  const problemOf = (code: BusProblem["code"], detail?: string): BusProblem => ({ code, reason: REASONS[code], since: Date.now(), detail });

  /** Applies a change and tells listeners when availability flipped. */
  function update(change: () => void): void {
    const before = current();
    change();
    const after = current();
    if (!before && after) emit({ type: "bus.unavailable", problem: after });
    else if (before && !after) emit({ type: "bus.available", downMs: Date.now() - before.since });
  }

  /** Keeps the start of a problem that goes on (with a new code, it is a new problem). */
  const same = (was: BusProblem | undefined, code: BusProblem["code"], detail?: string) => (was?.code === code ? was : problemOf(code, detail));

  function failed(code: "nats_not_responding" | "jetstream_unavailable", e: unknown): void {
    failures++;
    if (failures >= trip) update(() => (probed = same(probed, code, (e as Error)?.message ?? String(e))));
  }

  async function probe(): Promise<void> {
    if (probing || closed || connection) return;
    probing = true;
    try {
      try {
        await within(o.nc.rtt(), timeoutMs, () => new ProbeTimeout("a PONG from the server", timeoutMs));
      } catch (e) {
        return failed("nats_not_responding", e);
      }
      try {
        await within(o.probeWrite(), timeoutMs, () => new ProbeTimeout("a JetStream write", timeoutMs));
      } catch (e) {
        if (isStorageFull(e)) {
          failures = 0;
          return update(() => (probed = same(probed, "storage_full", (e as Error).message)));
        }
        return failed("jetstream_unavailable", e);
      }
      failures = 0;
      update(() => (probed = undefined));
    } finally {
      probing = false;
    }
  }

  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => void probe().finally(schedule), intervalMs);
    timer.unref();
  };

  void (async () => {
    for await (const s of o.nc.status()) {
      if (closed) break;
      switch (s.type) {
        case "disconnect":
        case "reconnecting":
        case "staleConnection":
          update(() => (connection = same(connection, "nats_disconnected", s.type)));
          break;
        case "close":
          update(() => (connection = same(connection, "nats_disconnected", "connection closed")));
          break;
        case "reconnect":
          failures = 0;
          emit({ type: "bus.reconnected", server: s.server });
          update(() => (connection = undefined));
          void probe();
          break;
        default:
          break;
      }
    }
  })().catch(() => undefined);
  void probe().finally(schedule);

  const subscribe = (listener: (e: BusHealthEvent) => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  return {
    problem: current,
    available: () => current() === undefined,
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
    observe(error) {
      if (isStorageFull(error)) update(() => (probed = same(probed, "storage_full", (error as Error).message)));
    },
    subscribe,
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      listeners.clear();
    },
  };
}
