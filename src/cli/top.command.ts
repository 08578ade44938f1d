/**
 * `claw top`: a live view of the cluster, redrawn every interval, from each
 * member's `GET /metrics` (scraped twice and diffed) and the cluster status.
 * Exits on `q` or Ctrl-C; prints one frame when stdout is not a terminal or
 * with `--once`.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { delay } from "../bus/index.js";
import { clusterStatus, type ClusterStatus } from "../supervisors/index.js";
import { cliConnect } from "./cli-connection.js";
import { describeError } from "./describe-error.js";
import { scrapeMetrics } from "./node-rates.js";
import { renderTopFrame, topFrame, type ScrapeResult } from "./top-view.js";

/** Options of {@link topCommand}. */
export interface TopOptions {
  /** ms between frames (and between the two scrapes of the first frame) */
  intervalMs: number;
  /** print one frame and exit */
  once: boolean;
  /** print the frame as JSON (implies once) */
  json: boolean;
}

/** ANSI: cursor home, clear screen. */
const CLEAR = "\x1b[H\x1b[2J";

interface Sample {
  status: ClusterStatus;
  scrapes: Map<string, ScrapeResult>;
}

/** Reads the status and scrapes every member that has announced its HTTP address. */
async function sample(jsm: JetStreamManager, kvm: Kvm, timeoutMs: number): Promise<Sample> {
  const status = await clusterStatus(jsm, kvm);
  const scrapes = new Map<string, ScrapeResult>();
  await Promise.all(
    status.members.map(async (m) => {
      if (!m.http) return;
      try {
        scrapes.set(m.node, { ok: true, scrape: await scrapeMetrics(m.http, timeoutMs) });
      } catch (e) {
        scrapes.set(m.node, { ok: false, error: (e as Error).message });
      }
    }),
  );
  return { status, scrapes };
}

/** Stops on `q`, Ctrl-C (raw mode) or SIGINT; returns a cleanup that restores the terminal. */
function listenForQuit(stop: () => void): () => void {
  const stdin = process.stdin;
  const onKey = (b: Buffer) => {
    const k = b.toString();
    if (k === "q" || k === "Q" || k === "\x03") stop();
  };
  const raw = stdin.isTTY === true;
  if (raw) {
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on("data", onKey);
  }
  process.once("SIGINT", stop);
  return () => {
    process.removeListener("SIGINT", stop);
    if (raw) {
      stdin.off("data", onKey);
      stdin.setRawMode(false);
      stdin.pause();
    }
  };
}

/** Runs the view. Returns the exit code. */
export async function topCommand(o: TopOptions): Promise<number> {
  const once = o.once || o.json || !process.stdout.isTTY;
  const nc = await cliConnect();
  const abort = new AbortController();
  const restore = once ? () => {} : listenForQuit(() => abort.abort());
  try {
    const jsm = await jetstreamManager(nc);
    const kvm = new Kvm(jetstream(nc));
    // a busy node answers slowly: allow at least 2 s, however short the interval
    const timeoutMs = Math.max(2_000, Math.min(o.intervalMs, 5_000));
    let before = await sample(jsm, kvm, timeoutMs);
    if (!once) process.stdout.write(`${CLEAR}claw top: scraping ${before.status.members.length} member(s) every ${o.intervalMs} ms (q to quit)\n`);
    while (!abort.signal.aborted) {
      await delay(o.intervalMs, abort.signal);
      if (abort.signal.aborted) break;
      let after: Sample;
      try {
        after = await sample(jsm, kvm, timeoutMs);
      } catch (e) {
        // a live view rides out a NATS hiccup (a server restarting, a leader election)
        if (once) throw e;
        process.stdout.write(`${CLEAR}claw top: ${describeError(e)}\n(trying again every ${o.intervalMs} ms; q quits)\n`);
        continue;
      }
      const frame = topFrame(after.status, before.scrapes, after.scrapes);
      before = after;
      if (o.json) process.stdout.write(JSON.stringify(frame) + "\n");
      else process.stdout.write((once ? "" : CLEAR) + renderTopFrame(frame));
      if (once) break;
    }
    return 0;
  } finally {
    restore();
    await nc.close();
  }
}
