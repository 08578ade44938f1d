/**
 * Collecting Claw's replies from `claw.out.>` with a stock NATS subscription.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { AckPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { decode, H, STREAMS, withRetry, type Envelope } from "../../src/bus/index.js";

/** Replies seen on a subject pattern, with helpers to wait for them. */
export interface ReplyCollector {
  /** in arrival order (stream order for {@link collectStreamReplies}); `node`: the node that published it (its `Claw-Node` header) */
  readonly replies: Array<Envelope & { subject: string; at: number; node?: string }>;
  /** resolves when a reply to `id` arrived (rejects after `timeoutMs`) */
  waitFor(id: string, timeoutMs?: number): Promise<Envelope & { subject: string; at: number }>;
  /** resolves when `n` replies arrived */
  waitForCount(n: number, timeoutMs?: number): Promise<void>;
  stop(): void;
}

/** Subscribes to `subject` (default `claw.out.>`) and records decoded replies. */
export async function collectReplies(nc: NatsConnection, subject = "claw.out.>"): Promise<ReplyCollector> {
  const sub: Subscription = nc.subscribe(subject);
  const replies: ReplyCollector["replies"] = [];
  void (async () => {
    for await (const m of sub) replies.push({ ...decode<Envelope>(m.data), subject: m.subject, at: performance.now() });
  })();
  await nc.flush();
  return collector(replies, () => sub.unsubscribe());
}

function collector(replies: ReplyCollector["replies"], stop: () => void): ReplyCollector {
  const until = async (pred: () => boolean, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (have ${replies.length} replies)`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return {
    replies,
    async waitFor(id, timeoutMs = 5_000) {
      await until(() => replies.some((r) => r.replyTo === id), timeoutMs, `a reply to ${id}`);
      return replies.find((r) => r.replyTo === id)!;
    },
    waitForCount: (n, timeoutMs = 10_000) => until(() => replies.length >= n, timeoutMs, `${n} replies`),
    stop,
  };
}

/** A JSON payload as an outside system would publish it. */
export function jsonBody(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v));
}

/**
 * Reads replies from the `CLAW_OUT` stream itself, as a channel adapter does
 * (a durable pull consumer, acking each): what "exactly once" and order are
 * measured on. `replies` is kept in stream order.
 * Core subscribers may see a re-published duplicate that the stream dropped.
 */
export async function collectStreamReplies(js: JetStreamClient, jsm: JetStreamManager, filter = "claw.out.>"): Promise<ReplyCollector> {
  const name = `test-out-${Math.random().toString(36).slice(2, 8)}`;
  await jsm.consumers.add(STREAMS.out, { durable_name: name, filter_subject: filter, ack_policy: AckPolicy.Explicit, inactive_threshold: 60_000_000_000 });
  const consumer = await js.consumers.get(STREAMS.out, name);
  const replies: ReplyCollector["replies"] = [];
  const seen = new Set<number>();
  const seqs: number[] = [];
  const messages = await consumer.consume({
    expires: 5_000,
    idle_heartbeat: 1_000,
    callback: (m) => {
      // this reader is at-least-once too: an ack lost with a dying server redelivers the same
      // stream message, which is not a duplicate reply
      if (!seen.has(m.seq)) {
        // kept in stream order (a redelivered message arrives late but was stored in its place)
        const at = seqs.findIndex((q) => q > m.seq);
        const i = at === -1 ? seqs.length : at;
        seqs.splice(i, 0, m.seq);
        replies.splice(i, 0, { ...decode<Envelope>(m.data), subject: m.subject, at: performance.now(), node: m.headers?.get(H.node) || undefined });
      }
      seen.add(m.seq);
      m.ack();
    },
  });
  return collector(replies, () => void messages.stop());
}

/**
 * Reads what a stream holds on `filter`, in stream order, once it holds at
 * least `count` messages (waiting up to `timeoutMs`) and then nothing more
 * has been stored for `settleMs`: a duplicate stored after the last genuine
 * message is read too, so "exactly once" can fail. Measures what was durably
 * published, independent of any reader that lived through server failures.
 */
export async function readStream(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
  count: number,
  timeoutMs = 60_000,
  settleMs = 1_000,
): Promise<Array<Envelope & { subject: string; seq: number }>> {
  const deadline = Date.now() + timeoutMs;
  const held = async () => {
    const info = await jsm.streams.info(stream, { subjects_filter: filter }).catch(() => undefined); // unavailable for now: ask again
    return info ? Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0) : undefined;
  };
  for (;;) {
    const n = (await held()) ?? 0;
    if (n >= count) break;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${count} messages on ${filter} in ${stream} (it holds ${n})`);
    await new Promise((r) => setTimeout(r, 250));
  }
  // settled: the count stays the same for settleMs (what comes later, a late duplicate, is part of the answer)
  for (let last = -1; ;) {
    const n = await held();
    if (n !== undefined && n === last) break;
    if (n !== undefined) last = n;
    if (Date.now() > deadline + settleMs * 2) throw new Error(`${stream} kept growing on ${filter} past ${timeoutMs} ms (${last} messages)`);
    await new Promise((r) => setTimeout(r, settleMs));
  }
  // message by message from the stream leader, to its end (no consumer: after a failure a consumer's own
  // raft group may still be recovering while the stream already answers), retrying while leaders are elected
  const info = await withRetry(() => jsm.streams.info(stream), { totalMs: Math.max(5_000, deadline - Date.now()) });
  const out: Array<Envelope & { subject: string; seq: number }> = [];
  const prefix = filter.endsWith(">") ? filter.slice(0, -1) : filter;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await withRetry(
      () => jsm.streams.getMessage(stream, { seq }).catch((e: unknown) => (String(e).includes("no message found") ? null : Promise.reject(e))),
      {
        totalMs: Math.max(5_000, deadline - Date.now()),
      },
    );
    if (m && (m.subject === filter || m.subject.startsWith(prefix))) out.push({ ...decode<Envelope>(m.data), subject: m.subject, seq: m.seq });
  }
  return out;
}
