/**
 * `GET /ui/events`: a Server-Sent Events stream for one browser. While it is
 * open the node keeps a watch on the requested actors (`claw.ctl.watch`,
 * renewed well before its ttl runs out) and forwards their
 * `claw.events.actor.<kind>.<id>` events as `actor` events; `cluster` events
 * follow the cluster feed. Watching one channel account (`kind=channel`,
 * `id=<type>-<account>`) also forwards what it announces (a QR code to pair
 * with, drawn here as SVG; a pairing code; "open") as `pairing` events.
 * Closing the connection ends the subscriptions and the renewals; the watch
 * then lapses on every node by itself.
 * See https://html.spec.whatwg.org/multipage/server-sent-events.html.
 */
import type { ServerResponse } from "node:http";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { actorEventSubject, parseChannelActorId, WATCH_SUBJECT, wildcards } from "../bus/index.js";
import { type ActorEvent, type ActorKind, type WatchRequest } from "../observability/index.js";
import type { ClusterFeed } from "./cluster-feed.js";

/** What a stream follows: a kind's actors (`id` undefined = all of them), or only the cluster. */
export interface LiveTarget {
  kind?: ActorKind;
  id?: string;
}

/** Timing of a stream; the defaults suit a browser. */
export interface LiveEventsTiming {
  /** ttl of each watch request */
  watchTtlMs: number;
  /** how often the watch is repeated (well under the ttl, so one lost request does not end it) */
  renewMs: number;
  /** comment lines that keep proxies and the browser from timing the stream out */
  keepAliveMs: number;
  /** events are dropped while this many bytes wait to be written (a stalled browser must not grow the node's memory) */
  maxBufferedBytes: number;
}

/** Defaults of {@link LiveEventsTiming}. */
export function defaultLiveEventsTiming(): LiveEventsTiming {
  return { watchTtlMs: 10_000, renewMs: 4_000, keepAliveMs: 15_000, maxBufferedBytes: 1 << 20 };
}

/** Writes one SSE event (`data` is JSON, which has no raw newlines). */
function writeEvent(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function isActorEvent(e: unknown): e is ActorEvent {
  const a = e as Partial<ActorEvent> | null;
  return !!a && typeof a.kind === "string" && typeof a.id === "string" && typeof a.state === "string" && typeof a.event === "string";
}

/**
 * Serves one SSE stream until the browser goes away (or `signal` aborts, when
 * the node stops). Resolves once everything it started is cleaned up.
 */
export async function serveLiveEvents(
  res: ServerResponse,
  o: {
    nc: NatsConnection;
    nodeId: string;
    target: LiveTarget;
    feed: ClusterFeed;
    timing: LiveEventsTiming;
    signal: AbortSignal;
    visible?: (e: ActorEvent) => boolean;
  },
): Promise<void> {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.write(`retry: 2000\n\n`);

  const cleanups: Array<() => void> = [];
  // listened for before anything is awaited, so a browser that leaves early is not missed
  const closed = new Promise<void>((resolve) => {
    if (o.signal.aborted) return resolve();
    const done = () => resolve();
    o.signal.addEventListener("abort", done, { once: true });
    // the response's close, not the request's: a request "closes" once its (empty) body is read
    res.once("close", done);
    cleanups.push(() => o.signal.removeEventListener("abort", done));
  });
  const send = (event: string, data: unknown) => {
    if (res.writableEnded || res.writableLength > o.timing.maxBufferedBytes) return;
    writeEvent(res, event, data);
  };

  const { kind, id } = o.target;
  if (kind) {
    const sub: Subscription = o.nc.subscribe(actorEventSubject(kind, id ?? ">"), {
      callback: (err, m) => {
        if (err) return;
        let e: unknown;
        try {
          e = m.json();
        } catch {
          return;
        }
        // a viewer sees the actors it may (the sessions of others: not even that they moved)
        if (isActorEvent(e) && (o.visible?.(e) ?? true)) send("actor", e);
      },
    });
    cleanups.push(() => sub.unsubscribe());
    const watch: WatchRequest = { kind, ...(id ? { id } : {}), ttlMs: o.timing.watchTtlMs };
    // subscribed first, on the same connection: the nodes' answer to the watch (the current
    // state of actors nobody watched yet) cannot arrive before the subscription exists
    const renew = () => o.nc.publish(WATCH_SUBJECT, JSON.stringify(watch));
    // the first watch asks for the actors' current state even where someone else already watches
    o.nc.publish(WATCH_SUBJECT, JSON.stringify({ ...watch, current: true } satisfies WatchRequest));
    const renewal = setInterval(renew, o.timing.renewMs);
    cleanups.push(() => clearInterval(renewal));
  }
  if (kind === "channel" && id) cleanups.push(forwardPairing(o.nc, id, send));
  // "hello" once the server has the subscription and the watch: from then on nothing is missed
  await o.nc.flush().catch(() => undefined);
  send("hello", { node: o.nodeId, kind: kind ?? null, id: id ?? null });
  cleanups.push(o.feed.subscribe((view) => send("cluster", view)));
  const keepAlive = setInterval(() => res.writableEnded || res.write(`: keep-alive\n\n`), o.timing.keepAliveMs);
  cleanups.push(() => clearInterval(keepAlive));

  await closed;
  for (const c of cleanups) c();
  if (!res.writableEnded) res.end();
}

/**
 * A channel account's announcements as `pairing` events: `{ event, node, svg }`
 * for a QR code (drawn as SVG), `{ event, node, code }` for a pairing code,
 * `{ event: "open" }` once linked. Returns the unsubscribe.
 */
function forwardPairing(nc: NatsConnection, actorId: string, send: (event: string, data: unknown) => void): () => void {
  const channel = parseChannelActorId(actorId);
  if (!channel) return () => {};
  const { type, account } = channel;
  const sub = nc.subscribe(wildcards.channelEvents(type, account), {
    callback: (err, m) => {
      if (err) return;
      const event = m.subject.slice(m.subject.lastIndexOf(".") + 1);
      let data: { qr?: unknown; code?: unknown; node?: unknown };
      try {
        data = m.json();
      } catch {
        return;
      }
      const base = { event, type, account, node: typeof data.node === "string" ? data.node : undefined };
      if (event === "qr" && typeof data.qr === "string") {
        void import("qrcode")
          .then(({ toString }) => toString(data.qr as string, { type: "svg", margin: 2 }))
          .then(
            (svg) => send("pairing", { ...base, svg }),
            () => undefined,
          );
      } else send("pairing", { ...base, ...(typeof data.code === "string" ? { code: data.code } : {}) });
    },
  });
  return () => sub.unsubscribe();
}
