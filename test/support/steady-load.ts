/**
 * What the fault-injection tests stand on: a steady load published as an
 * outside system would (retrying each message with its own msg id until the
 * stream acks it, so "accepted" means durably accepted), a poller of a
 * node's `/readyz`, and the check of what `CLAW_OUT` holds against what was
 * accepted: every message answered exactly once, in order per chat.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { STREAMS } from "../../src/bus/index.js";
import { jsonBody, readStream } from "./replies.js";

/** A message the stream acked. */
export interface AcceptedMessage {
  id: string;
  chat: string;
  /** its place in its chat (0, 1, …) */
  n: number;
  /** ms since epoch when it was first sent, and when the stream acked it */
  sentAt: number;
  acceptedAt: number;
}

/** A running load. */
export interface SteadyLoad {
  readonly accepted: AcceptedMessage[];
  /** publishes that failed and were tried again (NATS away) */
  readonly retries: number;
  /** stops generating; resolves when every message generated so far is accepted */
  stop(timeoutMs?: number): Promise<void>;
}

/** Options of {@link startSteadyLoad}. */
export interface SteadyLoadOptions {
  /** messages per second in all */
  rate: number;
  chats: number;
  /** ids are `<prefix>-c<chat>-<n>` */
  prefix: string;
  /** stop generating after this many messages (default: until stopped) */
  total?: number;
  /** `claw.in.<channel>.<account>.c<i>` (default `t`, `a`) */
  channel?: string;
  account?: string;
}

/**
 * Publishes `rate` messages a second round-robin over `chats` chats. Within a
 * chat a message is sent only once the previous one is accepted, so the
 * accepted order of a chat is its order; a failed publish is retried with the
 * same `Nats-Msg-Id` (a retry whose first try was stored is not stored twice).
 */
export function startSteadyLoad(js: JetStreamClient, o: SteadyLoadOptions): SteadyLoad {
  const channel = o.channel ?? "t";
  const account = o.account ?? "a";
  const accepted: AcceptedMessage[] = [];
  const chats = Array.from({ length: o.chats }, () => ({ next: 0, waiting: 0, busy: undefined as Promise<void> | undefined }));
  let retries = 0;
  let generating = true;
  let giveUp = false;
  let turn = 0;

  async function publish(chat: number, n: number): Promise<void> {
    const id = `${o.prefix}-c${chat}-${n}`;
    const sentAt = Date.now();
    for (;;) {
      try {
        await js.publish(`claw.in.${channel}.${account}.c${chat}`, jsonBody({ id, text: String(n), sender: { id: "u" } }), { msgID: id, timeout: 2_000 });
        accepted.push({ id, chat: `c${chat}`, n, sentAt, acceptedAt: Date.now() });
        return;
      } catch {
        if (giveUp) return;
        retries++;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  function drain(i: number): void {
    const q = chats[i]!;
    if (q.busy) return;
    q.busy = (async () => {
      while (q.waiting > 0) {
        await publish(i, q.next++);
        q.waiting--;
      }
      q.busy = undefined;
    })();
  }

  const started = Date.now();
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - started) * o.rate) / 1000);
    while (generating && turn < due && turn < (o.total ?? Infinity)) {
      const i = turn++ % o.chats;
      chats[i]!.waiting++;
      drain(i);
    }
  }, 10);

  return {
    accepted,
    get retries() {
      return retries;
    },
    async stop(timeoutMs = 60_000) {
      generating = false;
      clearInterval(timer);
      const all = Promise.all(chats.map((q) => q.busy));
      const late = new Promise<"late">((r) => setTimeout(() => r("late"), timeoutMs));
      if ((await Promise.race([all, late])) === "late") {
        giveUp = true;
        throw new Error(`load: messages still not accepted ${timeoutMs} ms after the load stopped`);
      }
    },
  };
}

/** One answer of `/readyz` (or why there was none). */
export interface ReadinessSample {
  at: number;
  /** HTTP status, or 0 when the node did not answer */
  status: number;
  reasons: string[];
}

/** Polls `GET /readyz` every `intervalMs` until stopped. */
export function pollReadiness(port: number, intervalMs = 100): { samples: ReadinessSample[]; stop(): ReadinessSample[] } {
  const samples: ReadinessSample[] = [];
  let stopped = false;
  void (async () => {
    while (!stopped) {
      const at = Date.now();
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1_000) });
        const body = (await res.json()) as { reasons?: string[] };
        samples.push({ at, status: res.status, reasons: body.reasons ?? [] });
      } catch {
        samples.push({ at, status: 0, reasons: ["no answer"] });
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    samples,
    stop: () => {
      stopped = true;
      return samples;
    },
  };
}

/** How readiness went around a fault. */
export interface ReadinessStory {
  /** the reasons given while not ready (each once, in order seen) */
  reasons: string[];
  /** ms from the fault's start to the first not-ready answer */
  notReadyAfterMs: number | undefined;
  /** ms from the fault's end to the first ready answer after it */
  readyAgainAfterMs: number | undefined;
  /** the last answer */
  last: ReadinessSample | undefined;
}

/** Reads a readiness poll around a fault that lasted from `faultAt` to `healedAt`. */
export function readinessStory(samples: ReadinessSample[], faultAt: number, healedAt: number): ReadinessStory {
  const notReady = samples.filter((s) => s.at >= faultAt && s.status !== 200);
  const readyAgain = samples.find((s) => s.at >= healedAt && s.status === 200 && s.at > (notReady.at(-1)?.at ?? 0));
  return {
    reasons: [...new Set(notReady.flatMap((s) => s.reasons))],
    notReadyAfterMs: notReady[0] ? notReady[0].at - faultAt : undefined,
    readyAgainAfterMs: readyAgain ? readyAgain.at - healedAt : undefined,
    last: samples.at(-1),
  };
}

/** What CLAW_OUT holds for a load, checked. */
export interface ReplyCheck {
  answered: number;
  /** accepted ids with no reply */
  missing: string[];
  /** ids answered more than once */
  duplicated: string[];
  /** ids answered with an error notice (dead-lettered) instead of a reply */
  failed: string[];
  /** chats whose replies are not in the order of their messages */
  outOfOrder: string[];
  /** the longest time from a message's acceptance to its reply, in ms */
  worstMs: number;
  /** when the last reply was published (ms since epoch) */
  lastReplyAt: number;
  /** when each message's reply was published (ms since epoch), by message id */
  answeredAt: Map<string, number>;
}

/**
 * Reads the replies to a load from `CLAW_OUT` itself (message by message, as
 * what was durably published), waiting up to `timeoutMs` until every accepted
 * message has one, and checks them.
 */
export async function checkReplies(
  jsm: JetStreamManager,
  load: SteadyLoad,
  o: { channel?: string; account?: string; timeoutMs?: number } = {},
): Promise<ReplyCheck> {
  const filter = `claw.out.${o.channel ?? "t"}.${o.account ?? "a"}.>`;
  const replies = await readStream(jsm, STREAMS.out, filter, load.accepted.length, o.timeoutMs ?? 60_000);
  const byId = new Map(load.accepted.map((m) => [m.id, m]));
  const failed = replies.filter((r) => r.kind !== "reply").map((r) => r.replyTo ?? "?");
  const answers = replies.filter((r) => r.kind === "reply");
  const count = new Map<string, number>();
  for (const r of answers) count.set(r.replyTo ?? "", (count.get(r.replyTo ?? "") ?? 0) + 1);
  const outOfOrder = new Set<string>();
  const lastN = new Map<string, number>();
  let worstMs = 0;
  let lastReplyAt = 0;
  const answeredAt = new Map<string, number>();
  for (const r of answers) {
    const m = byId.get(r.replyTo ?? "");
    if (!m) continue;
    if ((lastN.get(m.chat) ?? -1) > m.n) outOfOrder.add(m.chat);
    lastN.set(m.chat, Math.max(lastN.get(m.chat) ?? -1, m.n));
    worstMs = Math.max(worstMs, r.ts - m.acceptedAt);
    answeredAt.set(m.id, r.ts);
    lastReplyAt = Math.max(lastReplyAt, r.ts);
  }
  return {
    answered: count.size,
    missing: load.accepted.filter((m) => !count.has(m.id)).map((m) => m.id),
    duplicated: [...count].filter(([, n]) => n > 1).map(([id]) => id),
    failed,
    outOfOrder: [...outOfOrder],
    worstMs,
    lastReplyAt,
    answeredAt,
  };
}
