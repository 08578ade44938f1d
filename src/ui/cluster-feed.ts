/**
 * The cluster as the live view shows it (members, leader, assignment epoch,
 * per-partition owner and backlog, dead letters, and whether the serving node
 * is ready), read on demand and polled every couple of seconds while at least
 * one browser listens. One poll serves every listener of the node. While NATS
 * is unavailable the view is the last one read, marked with the error, and
 * the node's readiness says why.
 */
import type { Bus } from "../bus/index.js";
import { STREAMS } from "../bus/index.js";

/** One member as its heartbeat describes it (the fields the page shows). */
export interface MemberSnapshot {
  node: string;
  version: string;
  sessions: number;
  ts: number;
  ready?: boolean;
  notReady?: string[];
}

/** The cluster as the node's supervisors read it (their `clusterStatus`). */
export interface ClusterSnapshot {
  leader?: string;
  epoch: number;
  members: MemberSnapshot[];
  partitions: Array<{ partition: number; owner?: string; pending: number; inFlight: number }>;
}

/** What `GET /ui/api/cluster` and the `cluster` SSE event carry. */
export type ClusterView = ClusterSnapshot & {
  /** the node that answered */
  node: string;
  /** messages in `CLAW_DLQ` (null when the stream could not be read) */
  dlq: { stream: string; messages: number | null };
  /** the answering node's readiness (what its `/readyz` says) */
  readiness: { ready: boolean; reasons: string[] };
  /** why the cluster could not be read now (the rest is the last view read, or empty) */
  error?: string;
  ts: number;
};

/** Where the feed reads from. */
export interface ClusterSource {
  bus: Bus;
  nodeId: string;
  /** the cluster's members, leader and partitions */
  readCluster: () => Promise<ClusterSnapshot>;
  readiness: () => { ready: boolean; reasons: string[] };
}

/** Reads the cluster now. */
export async function readClusterView(o: ClusterSource): Promise<ClusterView> {
  const [status, dlq] = await Promise.all([
    o.readCluster(),
    o.bus.jsm.streams.info(STREAMS.dlq).then(
      (i) => i.state.messages,
      () => null,
    ),
  ]);
  return { ...status, node: o.nodeId, dlq: { stream: STREAMS.dlq, messages: dlq }, readiness: o.readiness(), ts: Date.now() };
}

/** The view when the cluster cannot be read: the last one (or an empty one), with the error and the readiness now. */
export function unreadableView(o: ClusterSource, last: ClusterView | undefined, e: unknown): ClusterView {
  const base: ClusterView = last ?? {
    epoch: 0,
    members: [],
    partitions: [],
    node: o.nodeId,
    dlq: { stream: STREAMS.dlq, messages: null },
    readiness: o.readiness(),
    ts: 0,
  };
  return { ...base, readiness: o.readiness(), error: (e as Error)?.message ?? String(e), ts: Date.now() };
}

/** A shared poller of {@link readClusterView}. */
export interface ClusterFeed {
  /** calls `listener` with every fresh view (the first one soon); returns the unsubscribe */
  subscribe(listener: (view: ClusterView) => void): () => void;
  close(): void;
}

/** Options of {@link createClusterFeed}. */
export interface ClusterFeedOptions extends ClusterSource {
  intervalMs?: number;
  onError?: (e: unknown) => void;
}

/** Starts polling when the first listener subscribes, stops after the last leaves. */
export function createClusterFeed(o: ClusterFeedOptions): ClusterFeed {
  const listeners = new Set<(view: ClusterView) => void>();
  let timer: NodeJS.Timeout | undefined;
  let polling = false;
  let last: ClusterView | undefined;
  let lastRead: ClusterView | undefined;

  async function poll(): Promise<void> {
    // a slow JetStream API must not pile polls up
    if (polling) return;
    polling = true;
    try {
      last = lastRead = await readClusterView(o);
    } catch (e) {
      o.onError?.(e);
      last = unreadableView(o, lastRead, e);
    } finally {
      polling = false;
    }
    for (const l of listeners) l(last);
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
          last = lastRead = undefined;
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
