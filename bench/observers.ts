/**
 * Observers for the `observe` scenario: someone watching every actor (live
 * events, as the /ui does for all sessions) and an OTLP/HTTP collector
 * receiving spans. Each reports what it saw when stopped.
 */
import { createServer } from "node:http";
import { connect } from "@nats-io/transport-node";
import { WATCH_SUBJECT, wildcards } from "../src/bus/index.js";
import type { WatchRequest } from "../src/observability/index.js";

/** A running observer. */
export interface Observer {
  /** stops observing; returns a line about what it saw */
  stop(): Promise<string>;
}

/** Watches every actor of every node for the whole run, counting the events. */
export async function watchAllActors(natsUrl: string): Promise<Observer> {
  const nc = await connect({ servers: natsUrl });
  let events = 0;
  const sub = nc.subscribe(wildcards.actorEvents, { callback: () => void events++ });
  const watch: WatchRequest = { kind: "*", ttlMs: 15_000 };
  const renew = () => nc.publish(WATCH_SUBJECT, JSON.stringify(watch));
  renew();
  const timer = setInterval(renew, 5_000);
  await nc.flush();
  return {
    async stop() {
      clearInterval(timer);
      sub.unsubscribe();
      await nc.close();
      return `${events} actor events received`;
    },
  };
}

/** An OTLP/HTTP trace sink (what a collector on :4318 does, minus the storage). */
export async function startOtlpSink(): Promise<{ url: string; observer(): Observer; close(): Promise<void> }> {
  let spans = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      bytes += body.length;
      try {
        const parsed = JSON.parse(body.toString("utf8")) as { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: unknown[] }> }> };
        for (const rs of parsed.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spans += ss.spans?.length ?? 0;
      } catch {
        /* counted as bytes only */
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    observer() {
      const [s0, b0] = [spans, bytes];
      return { stop: async () => `${spans - s0} spans exported (${Math.round((bytes - b0) / 1024)} KiB)` };
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
