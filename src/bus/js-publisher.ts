/**
 * JetStream publishes on one shared reply subscription: each publish carries
 * a reply subject `<inbox>.<token>`, the stream's ack comes back on the one
 * wildcard subscription and settles the waiter of that token; one sweep a
 * quarter second times out the late ones.
 *
 * Why not `JetStreamClient.publish`: under load a node makes three or four
 * of these per message, and nats.js builds each as a request with its own
 * timer, deferred and mux entry, and after every *successful* one an Error
 * with a stack trace (`RequestOne.cancel()` in nats.js 3.4: ~5 % of a node's
 * CPU). This does the same protocol — the same headers, the same ack, the
 * same errors (`JetStreamApiError`, a `TimeoutError`, no responders as a
 * `RequestError`) — with a map entry per publish. `bench/nats-request-error.ts`
 * keeps the reproduction for an upstream report.
 */
import {
  createInbox,
  errors as coreErrors,
  headers as natsHeaders,
  RequestError,
  type Msg,
  type Payload,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
import { JetStreamApiError, type JetStreamClient, type JetStreamPublishOptions, type PubAck } from "@nats-io/jetstream";
import { directGetSubject } from "./subjects.js";

/** What publishing durably needs of a JetStream client (its `publish`). */
export type JsPublish = Pick<JetStreamClient, "publish">;

/** The last message a stream holds on a subject, as a direct get answers it. */
export interface StoredMsg {
  subject: string;
  data: Uint8Array;
  /** the stored message's own headers (e.g. `KV-Operation` of a KV delete) */
  headers?: MsgHdrs;
  seq: number;
  time: Date;
}

/** A {@link JsPublish} that can be closed (rejecting what still waits). */
export interface JsPublisher extends JsPublish {
  /**
   * The last message on `subject` in `stream`, or null when it holds none — a direct get (the stream must allow them:
   * a KV bucket does), on the same shared reply subscription: a miss is an answer here, not an error built with its stack
   * (nats.js's `kv.get` builds two for every key it does not find). Rejects as a publish does (no responders: the stream
   * does not exist or does not allow direct gets).
   */
  lastBySubject(stream: string, subject: string, opts?: { timeout?: number }): Promise<StoredMsg | null>;
  /** publishes waiting for their ack */
  readonly pending: number;
  close(): void;
}

interface Waiter {
  /** the reply, read (an error it names is thrown) */
  settle(m: Msg): void;
  reject(e: Error): void;
  deadline: number;
}

const SWEEP_MS = 250;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The ack (or the refusal) in a reply to a JetStream publish. */
function parseAck(m: Msg, subject: string): PubAck {
  // no stream listens on the subject: the server answers "no responders" (503, no body)
  if (m.data.length === 0 && m.headers?.code === 503) throw new RequestError("no responders", { cause: new coreErrors.NoRespondersError(subject) });
  const v = JSON.parse(decoder.decode(m.data)) as PubAck & { error?: ConstructorParameters<typeof JetStreamApiError>[0] };
  if (v.error) throw new JetStreamApiError(v.error);
  if (!v.stream) throw new Error(`invalid JetStream ack for ${subject}: ${decoder.decode(m.data).slice(0, 200)}`);
  return { stream: v.stream, seq: v.seq, duplicate: v.duplicate === true, domain: v.domain ?? "" };
}

/** The answer to a direct get: the message, null when there is none (404), or the server's refusal thrown. */
function parseStored(m: Msg, stream: string, subject: string): StoredMsg | null {
  const h = m.headers;
  if (h?.code === 404) return null;
  if (m.data.length === 0 && h?.code === 503) throw new RequestError("no responders", { cause: new coreErrors.NoRespondersError(directGetSubject(stream)) });
  if (h?.hasError) throw new JetStreamApiError({ code: h.code, err_code: 0, description: `direct get of ${subject} in ${stream}: ${h.description}` });
  const seq = Number(h?.get("Nats-Sequence"));
  if (!h || !Number.isSafeInteger(seq) || seq <= 0) throw new Error(`invalid direct get answer for ${subject} in ${stream}: no Nats-Sequence`);
  return { subject: h.get("Nats-Subject") || subject, data: m.data, headers: h, seq, time: new Date(h.get("Nats-Time-Stamp")) };
}

/** Headers of a publish: the caller's, with the JetStream expectations the options name. */
function publishHeaders(o: Partial<JetStreamPublishOptions>): MsgHdrs | undefined {
  const e = o.expect;
  if (!o.msgID && !e) return o.headers;
  const h = o.headers ?? natsHeaders();
  if (o.msgID) h.set("Nats-Msg-Id", o.msgID);
  if (e?.lastMsgID) h.set("Nats-Expected-Last-Msg-Id", e.lastMsgID);
  if (e?.streamName) h.set("Nats-Expected-Stream", e.streamName);
  if (typeof e?.lastSequence === "number") h.set("Nats-Expected-Last-Sequence", String(e.lastSequence));
  if (typeof e?.lastSubjectSequence === "number") h.set("Nats-Expected-Last-Subject-Sequence", String(e.lastSubjectSequence));
  return h;
}

/** Starts a publisher on `nc`; `timeoutMs` bounds the wait for each ack (default 5 s). */
export function createJsPublisher(nc: NatsConnection, timeoutMs = 5_000): JsPublisher {
  const prefix = `${createInbox()}.`;
  const waiters = new Map<string, Waiter>();
  let next = 0;
  let closed: Error | undefined;

  const sub: Subscription = nc.subscribe(`${prefix}*`, {
    callback: (err, m) => {
      if (err) return;
      const token = m.subject.slice(prefix.length);
      const w = waiters.get(token);
      if (!w) return; // timed out meanwhile
      waiters.delete(token);
      try {
        w.settle(m);
      } catch (e) {
        w.reject(e as Error);
      }
    },
  });

  const sweeper = setInterval(() => {
    if (waiters.size === 0) return;
    const now = Date.now();
    for (const [token, w] of waiters) {
      if (w.deadline > now) continue;
      waiters.delete(token);
      w.reject(new coreErrors.TimeoutError());
    }
  }, SWEEP_MS);
  sweeper.unref();

  const close = (why: Error) => {
    if (closed) return;
    closed = why;
    clearInterval(sweeper);
    for (const w of waiters.values()) w.reject(why);
    waiters.clear();
  };
  void nc.closed().then(() => close(new coreErrors.ClosedConnectionError()));

  /** publishes `data` to `subject` with a reply subject of its own; `read` turns the reply into the result */
  function ask<T>(subject: string, data: Payload | undefined, headers: MsgHdrs | undefined, timeout: number, read: (m: Msg) => T): Promise<T> {
    if (closed) return Promise.reject(closed);
    const token = (next++).toString(36);
    return new Promise<T>((resolve, reject) => {
      waiters.set(token, { settle: (m) => resolve(read(m)), reject, deadline: Date.now() + timeout });
      try {
        nc.publish(subject, data, { reply: prefix + token, headers });
      } catch (e) {
        waiters.delete(token);
        reject(e as Error);
      }
    });
  }

  return {
    get pending() {
      return waiters.size;
    },
    publish(subject, data, opts = {}) {
      return ask(subject, data, publishHeaders(opts), opts.timeout ?? timeoutMs, (m) => parseAck(m, subject));
    },
    lastBySubject(stream, subject, opts = {}) {
      const body = encoder.encode(JSON.stringify({ last_by_subj: subject }));
      return ask(directGetSubject(stream), body, undefined, opts.timeout ?? timeoutMs, (m) => parseStored(m, stream, subject));
    },
    close() {
      sub.unsubscribe();
      close(new coreErrors.ClosedConnectionError());
    },
  };
}
