/**
 * The load generator: publishes JSON messages the way an outside system does
 * and measures each one end to end until its reply arrives on the reply
 * stream. Open loop at a target rate (latency from the *scheduled* send time,
 * so a stall is not hidden: no coordinated omission) or closed loop with a
 * window of messages in flight. Latencies go into an HDR histogram.
 */
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import * as hdr from "hdr-histogram-js";
import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { decode } from "../src/bus/index.js";

/** Where to publish and where replies come back. */
export interface Target {
  name: string;
  /** subject for a message of `chat` */
  inbound(chat: string): string;
  /** stream and filter replies are read from */
  replyStream: string;
  replyFilter: string;
  /** the node's HTTP gateway, for the `http` transport */
  httpUrl?: string;
}

/** Load shape. */
export interface LoadOptions {
  mode: { kind: "open"; rate: number } | { kind: "closed"; window: number };
  durationS: number;
  sessions: number;
  payloadBytes: number;
  /** how long to wait for stragglers after the last send */
  graceS: number;
  /** stop sending after this many messages */
  maxMessages?: number;
  /** the chats' names: `<chatPrefix><i>` for i below `sessions` (default `c`) */
  chatPrefix?: string;
  /** publish with core NATS (default) or `POST /v1/messages` on the target's gateway */
  transport?: "nats" | "http";
  /**
   * first send one message to every session at 1,000 msg/s and wait for the replies (not
   * measured: reported as `warmup`), so the run measures sessions that exist, on a node
   * whose code is warm; the cold start is its own number
   */
  warmup?: boolean;
  /** things to do during the run (e.g. kill a node), at seconds after the start */
  events?: Array<{ atS: number; name: string; run: () => Promise<void> }>;
}

/** Latency of the messages scheduled within one second of the run. */
export interface TimelineSecond {
  s: number;
  count: number;
  p99Ms: number;
  maxMs: number;
}

/** What a run measured. */
export interface LoadResult {
  sent: number;
  received: number;
  /** accepted (published, or 202 over HTTP) and never answered */
  lost: number;
  /** refused at the door: an HTTP request that got no 202 (the sender knows; a client would retry) */
  refused: number;
  duplicates: number;
  errors: number;
  seconds: number;
  throughput: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** per second of send time */
  timeline: TimelineSecond[];
  /** when each event ran (s after the start) */
  eventsAtS: Record<string, number>;
  /** the slowest messages: chat, when it was due (ms since epoch) and its latency */
  slowest: Array<{ id: string; chat: string; dueAt: number; latencyMs: number }>;
  /** ms since epoch at the run's start (when the first message was due) */
  startedAt: number;
  /** the warm-up: one message to each (new) session, how long they all took and their latency */
  warmup?: { sessions: number; answered: number; seconds: number; p50Ms: number; p99Ms: number; maxMs: number };
}

/** How many of the slowest messages a run keeps. */
const SLOWEST = 20;

/** Runs one load against a target. Progress goes to stderr once a second. */
export async function runLoad(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager, t: Target, o: LoadOptions): Promise<LoadResult> {
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const due = new Map<string, number>();
  const seen = new Set<string>();
  let sent = 0;
  let received = 0;
  let duplicates = 0;
  let errors = 0;
  const text = "x".repeat(Math.max(1, o.payloadBytes - 60));
  const runId = Math.random().toString(36).slice(2, 8);
  let onReply: () => void = () => {};
  let lastReplyAt = 0;
  const perSecond: number[][] = [];
  const eventsAtS: Record<string, number> = {};

  // the slowest messages, ascending by latency (for attribution: where did their time go?)
  const slowest: Array<{ id: string; latencyMs: number }> = [];
  const keepIfSlow = (id: string, latencyMs: number) => {
    if (slowest.length === SLOWEST && latencyMs <= slowest[0]!.latencyMs) return;
    slowest.push({ id, latencyMs });
    slowest.sort((a, b) => a.latencyMs - b.latencyMs);
    if (slowest.length > SLOWEST) slowest.shift();
  };

  let warming = o.warmup === true;
  const warmLatency = new Map<string, number>();

  const name = `bench-${runId}`;
  await jsm.consumers.add(t.replyStream, { durable_name: name, filter_subject: t.replyFilter, ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 });
  const consumer = await js.consumers.get(t.replyStream, name);
  const reader = await consumer.consume({
    max_messages: 1000,
    callback: (m) => {
      m.ack();
      const id = decode<{ replyTo?: string }>(m.data).replyTo;
      if (!id) return void errors++;
      if (seen.has(id)) return void duplicates++;
      const scheduled = due.get(id);
      if (scheduled === undefined) return;
      seen.add(id);
      received++;
      if (warming) return void warmLatency.set(id, performance.now() - scheduled);
      lastReplyAt = performance.now();
      hist.recordValue(Math.max(1, Math.round((lastReplyAt - scheduled) * 1000)));
      keepIfSlow(id, lastReplyAt - scheduled);
      (perSecond[Math.floor((scheduled - t0) / 1000)] ??= []).push(lastReplyAt - scheduled);
      onReply();
    },
  });

  const http = o.transport === "http";
  // a client as a service would run one: keep-alive, a bounded pool (requests queue for a socket)
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  const errorKinds = new Map<string, number>();
  let refused = 0;
  let accepted = 0;
  let posting = 0;
  const fail = (why: string) => {
    refused++;
    errorKinds.set(why, (errorKinds.get(why) ?? 0) + 1);
  };
  if (http && !t.httpUrl) throw new Error(`${t.name} has no HTTP gateway`);
  const chatOf = (i: number) => `${o.chatPrefix ?? "c"}${i % o.sessions}`;
  const send = (i: number, scheduled: number, id = `${runId}-${i}`) => {
    due.set(id, scheduled);
    sent++;
    if (!http) return nc.publish(t.inbound(chatOf(i)), JSON.stringify({ id, text, sender: { id: "bench" } }));
    const [channel, account, chat] = t.inbound(chatOf(i)).split(".").slice(-3);
    posting++;
    const body = JSON.stringify({ channel, account, chat, idempotency_key: id, text, sender: { id: "bench" } });
    const req = httpRequest(
      `${t.httpUrl}/v1/messages`,
      { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        let answer = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (answer += c));
        res.on("end", () => {
          posting--;
          if (res.statusCode === 202) accepted++;
          else fail(`HTTP ${res.statusCode} ${answer.slice(0, 120)}`);
        });
      },
    );
    req.on("error", (e) => {
      posting--;
      fail(e.message);
    });
    req.end(body);
  };

  const warmup = o.warmup ? await warmUp() : undefined;
  /** One message to each session, paced at 1,000 msg/s; resolves when all are answered (or after 60 s). */
  async function warmUp(): Promise<LoadResult["warmup"]> {
    const w0 = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < o.sessions; i++) {
      while (w0 + i > performance.now()) await new Promise((r) => setTimeout(r, 1));
      const id = `${runId}-w${i}`;
      ids.push(id);
      send(i, w0 + i, id);
    }
    const deadline = performance.now() + 60_000;
    while (received < sent && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const latencies = ids.flatMap((id) => (warmLatency.has(id) ? [warmLatency.get(id)!] : [])).sort((a, b) => a - b);
    const at = (q: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 100) / 100;
    const result = {
      sessions: o.sessions,
      answered: latencies.length,
      seconds: Math.round((performance.now() - w0) / 10) / 100,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      maxMs: at(1),
    };
    process.stderr.write(`  ${t.name}: warm-up ${JSON.stringify(result)}\n`);
    // the measured run starts from zero
    sent = received = accepted = duplicates = errors = refused = 0;
    errorKinds.clear();
    hist.reset();
    slowest.length = 0;
    warming = false;
    return result;
  }

  const t0 = performance.now();
  const startedAt = Date.now();
  const timers = (o.events ?? []).map((e) =>
    setTimeout(() => {
      eventsAtS[e.name] = Math.round((performance.now() - t0) / 10) / 100;
      process.stderr.write(`  ${t.name}: ${e.name}\n`);
      void e.run().catch((err: unknown) => process.stderr.write(`  ${e.name} failed: ${String(err)}\n`));
    }, e.atS * 1000),
  );
  const end = t0 + o.durationS * 1000;
  const progress = setInterval(() => {
    const s = (performance.now() - t0) / 1000;
    process.stderr.write(
      `  ${t.name}: ${s.toFixed(0)} s  sent ${sent}  received ${received}  ${(received / s).toFixed(0)} msg/s  p99 ` +
        `${(hist.getValueAtPercentile(99) / 1000).toFixed(2)} ms\n`,
    );
  }, 1000);

  if (o.mode.kind === "open") {
    const rate = o.mode.rate;
    let i = 0;
    while (performance.now() < end) {
      const now = performance.now();
      // send everything that is due by now, each stamped with its own scheduled time
      while (t0 + (i * 1000) / rate <= now && t0 + (i * 1000) / rate < end && i < (o.maxMessages ?? Infinity)) {
        send(i, t0 + (i * 1000) / rate);
        i++;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  } else {
    const window = o.mode.window;
    let i = 0;
    await new Promise<void>((resolve) => {
      const max = o.maxMessages ?? Number.MAX_SAFE_INTEGER;
      onReply = () => {
        if (performance.now() < end && i < max) send(i++, performance.now());
        else if (received >= sent) resolve();
      };
      for (; i < Math.min(window, max); i++) send(i, performance.now());
      setTimeout(resolve, o.durationS * 1000 + o.graceS * 1000);
    });
    onReply = () => {};
  }
  const sendEnd = performance.now();
  const graceEnd = sendEnd + o.graceS * 1000;
  // over HTTP only what got its 202 was accepted; requests still open at the end were not
  const expected = () => (http ? accepted : sent);
  while ((received < expected() || posting > 0) && performance.now() < graceEnd) await new Promise((r) => setTimeout(r, 20));
  if (posting > 0) {
    refused += posting;
    errorKinds.set(`no answer to the POST within the run and its ${o.graceS} s grace`, posting);
  }
  clearInterval(progress);
  agent.destroy();
  for (const tm of timers) clearTimeout(tm);
  for (const [why, count] of errorKinds) process.stderr.write(`  ${t.name}: ${count} × ${why}\n`);
  await reader.close();
  await jsm.consumers.delete(t.replyStream, name).catch(() => undefined);
  // throughput over the time it took to get the replies, not just to send
  const seconds = (Math.max(sendEnd, lastReplyAt) - t0) / 1000;
  const ms = (p: number) => Math.round(hist.getValueAtPercentile(p) / 10) / 100;
  return {
    sent,
    received,
    lost: expected() - received,
    refused,
    duplicates,
    errors,
    seconds: Math.round(seconds * 100) / 100,
    throughput: Math.round(received / seconds),
    latencyMs: { p50: ms(50), p90: ms(90), p99: ms(99), p999: ms(99.9), max: Math.round(hist.maxValue / 10) / 100, mean: Math.round(hist.mean / 10) / 100 },
    timeline: Array.from(perSecond, (l, s) => {
      const sorted = (l ?? []).sort((a, b) => a - b);
      const at = (q: number) => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 100) / 100;
      return { s, count: sorted.length, p99Ms: at(0.99), maxMs: at(1) };
    }),
    eventsAtS,
    startedAt,
    warmup,
    slowest: slowest.reverse().map((x) => {
      const i = Number(x.id.slice(runId.length + 1));
      return { id: x.id, chat: chatOf(i), dueAt: Math.round(startedAt + (due.get(x.id)! - t0)), latencyMs: Math.round(x.latencyMs) };
    }),
  };
}
