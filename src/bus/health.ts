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
 * store is full) or have no JetStream leader. What is known is kept in the
 * bus' condition (bus-condition.ts), what a probe finds in bus-probe.ts.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { busCondition, type BusHealthEvent, type BusProblem } from "./bus-condition.js";
import { probeBus } from "./bus-probe.js";
import { isStorageFull } from "./retry.js";

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

/** Starts watching a connection (its status events, and a probe every `intervalMs`); the first probe runs at once. */
export function watchBusHealth(o: BusHealthOptions): BusHealth {
  const intervalMs = o.intervalMs ?? 1_000;
  const timeoutMs = o.timeoutMs ?? 2_000;
  const trip = o.failuresToTrip ?? 2;
  const condition = busCondition();
  let failures = 0;
  let probing = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  async function probe(): Promise<void> {
    if (probing || closed || condition.disconnected()) return;
    probing = true;
    try {
      const r = await probeBus(o.nc, o.probeWrite, timeoutMs);
      if (r.type === "failed") {
        failures++;
        if (failures >= trip) condition.set("probe", r.code, r.detail);
        return;
      }
      failures = 0;
      condition.set("probe", r.type === "storage_full" ? "storage_full" : undefined, r.detail);
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
          condition.set("connection", "nats_disconnected", s.type);
          break;
        case "close":
          condition.set("connection", "nats_disconnected", "connection closed");
          break;
        case "reconnect":
          failures = 0;
          condition.emit({ type: "bus.reconnected", server: s.server });
          condition.set("connection", undefined);
          void probe();
          break;
        default:
          break;
      }
    }
  })().catch(() => undefined);
  void probe().finally(schedule);

  return {
    problem: condition.problem,
    available: () => condition.problem() === undefined,
    whenAvailable: condition.whenAvailable,
    observe(error) {
      if (isStorageFull(error)) condition.set("probe", "storage_full", (error as Error).message);
    },
    subscribe: condition.subscribe,
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      condition.clear();
    },
  };
}
