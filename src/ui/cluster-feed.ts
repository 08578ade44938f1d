/**
 * The cluster as the live view shows it (members, leader, assignment epoch,
 * per-partition owner and backlog, dead letters), read on demand and polled
 * every couple of seconds while at least one browser listens. One poll serves
 * every listener of the node.
 */
import type { Bus } from "../bus/index.js";
import { STREAMS } from "../bus/index.js";
import { clusterStatus, type ClusterStatus } from "../supervisors/index.js";

/** What `GET /ui/api/cluster` and the `cluster` SSE event carry. */
export type ClusterView = Omit<ClusterStatus, "dlq"> & {
  /** the node that answered */
  node: string;
  /** messages in `CLAW_DLQ` (null when the stream could not be read) */
  dlq: { stream: string; messages: number | null };
  ts: number;
};

/** Reads the cluster now. */
export async function readClusterView(bus: Bus, node: string): Promise<ClusterView> {
  const [status, dlq] = await Promise.all([
    clusterStatus(bus.jsm, bus.kvm),
    bus.jsm.streams.info(STREAMS.dlq).then(
      (i) => i.state.messages,
      () => null,
    ),
  ]);
  return { ...status, node, dlq: { stream: STREAMS.dlq, messages: dlq }, ts: Date.now() };
}

/** A shared poller of {@link readClusterView}. */
export interface ClusterFeed {
  /** calls `listener` with every fresh view (the first one soon); returns the unsubscribe */
  subscribe(listener: (view: ClusterView) => void): () => void;
  close(): void;
}

/** Options of {@link createClusterFeed}. */
export interface ClusterFeedOptions {
  bus: Bus;
  nodeId: string;
  intervalMs?: number;
  onError?: (e: unknown) => void;
}

/** Starts polling when the first listener subscribes, stops after the last leaves. */
export function createClusterFeed(o: ClusterFeedOptions): ClusterFeed {
  const listeners = new Set<(view: ClusterView) => void>();
  let timer: NodeJS.Timeout | undefined;
  let polling = false;
  let last: ClusterView | undefined;

  async function poll(): Promise<void> {
    // a slow JetStream API must not pile polls up
    if (polling) return;
    polling = true;
    try {
      last = await readClusterView(o.bus, o.nodeId);
      for (const l of listeners) l(last);
    } catch (e) {
      o.onError?.(e);
    } finally {
      polling = false;
    }
  }

  return {
    subscribe(listener) {
      listeners.add(listener);
      if (last) listener(last);
      if (!timer) {
        void poll();
        timer = setInterval(() => void poll(), o.intervalMs ?? 2_000);
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && timer) {
          clearInterval(timer);
          timer = undefined;
          last = undefined;
        }
      };
    },
    close() {
      listeners.clear();
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
