/**
 * Runs one channel account on this node: its lifecycle actor (connect, back
 * off, connect again), the way in (a native message → `claw.in`, acked
 * natively only once durable; malformed → `CLAW_DLQ` stage `adapter`) and
 * the way out (`claw.out.<channel>.<account>.>` consumed durably, acked once
 * sent natively; refused → `CLAW_DLQ` stage `out`; unreachable → retried
 * with backoff).
 *
 * Order: inbound messages of one chat are published one after the other in
 * the order the adapter hands them over; one chat's replies are sent one at
 * a time in the order of the reply stream (several chats' side by side).
 */
import { createHash } from "node:crypto";
import { nuid } from "@nats-io/transport-node";
import type { JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { createActor, fromPromise, type Actor } from "xstate";
import {
  backoffDelay,
  channelConsumerSpec,
  completeInbound,
  CONTENT_TYPE_MSGPACK,
  deadLetterOf,
  decode,
  delay,
  encode,
  encodeToken,
  ensureConsumer,
  EnvelopeError,
  H,
  inboundSubject,
  InvalidSubjectError,
  isTransientFailure,
  NATIVE_METADATA,
  parseEnvelope,
  publishDeadLetter,
  publishDurable,
  STREAMS,
  type BackoffPolicy,
  type Bus,
  type ConsumerOptions,
  type DeadLetter,
  type Envelope,
} from "../bus/index.js";
import type { Logger } from "../log.js";
import { channelMachine, type ChannelContext } from "./channel.machine.js";
import { NativePayloadError, parseNativePayload } from "./native-payload.js";
import { RefusedSendError, RetryLaterError, type AdapterHost, type ChannelAdapter, type ChannelConnection, type NativeMessage } from "./types.js";

/** Facts a channel runner reports, for logs and metrics. */
export type ChannelRunnerEvent =
  | { type: "channel.connected"; channel: string; account: string }
  | { type: "channel.lost"; channel: string; account: string; error: string }
  | { type: "channel.connect.failed"; channel: string; account: string; error: string }
  | { type: "channel.received"; channel: string; account: string; duplicate: boolean }
  | { type: "channel.sent"; channel: string; account: string; ms: number }
  | { type: "channel.send.failed"; channel: string; account: string; error: string; retryInMs: number }
  | { type: "channel.publish.failed"; channel: string; account: string; error: string; retryInMs: number }
  | { type: "channel.dead"; channel: string; account: string; stage: "adapter" | "out"; code: string; reason: string };

/** Options of {@link createChannelRunner}. */
export interface ChannelRunnerOptions {
  bus: Bus;
  adapter: ChannelAdapter;
  /** the account's options, as the adapter's schema parsed them */
  options: { account: string };
  nodeId: string;
  log: Logger;
  backoff: BackoffPolicy;
  consumer: ConsumerOptions;
  maxPayload: number;
  /** KV `claw_channels`: the accounts' own state */
  state: KV;
  inspection?: { register(kind: "channel", id: string, actor: Actor<typeof channelMachine>): void; forget(kind: "channel", id: string): void };
  onEvent?: (e: ChannelRunnerEvent) => void;
}

/** What `GET /v1/channels` shows of a running account. */
export interface ChannelStatus extends ChannelContext {
  state: string;
}

/** One account's runner. */
export interface ChannelRunner {
  readonly id: string;
  start(): void;
  status(): ChannelStatus;
  /** stops taking and sending, closes the connection; what was not acked natively is delivered again */
  stop(): Promise<void>;
}

/** How long one connect may take before it counts as failed (and is tried again after the backoff). */
const CONNECT_TIMEOUT_MS = 30_000;
/** How long one fetch of replies waits for them (and so how long giving a connection up waits for the reply loop). */
const FETCH_EXPIRES_MS = 1_000;
/** Replies fetched at once, and so sent at most side by side (one chat's still one at a time). */
const SEND_CONCURRENCY = 64;
/** How long one native send may take before the reply is delivered again. */
const SEND_TIMEOUT_MS = 30_000;

/** Resolves with `p`, or rejects with `what` after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with the connection, or rejects after `ms`; a connection that arrives late is closed. */
async function connectWithin(p: Promise<ChannelConnection>, ms: number): Promise<ChannelConnection> {
  try {
    return await within(p, ms, "no connection");
  } catch (e) {
    void p.then((late) => late.close()).catch(() => undefined);
    throw e;
  }
}

/** The envelope id of a native message with a stable native id (≤ 200 characters, as envelope ids are). */
export function nativeMessageId(channel: string, account: string, id: string): string {
  const plain = `${channel}:${account}:${id}`;
  return plain.length <= 200 ? plain : `${channel}:${createHash("sha256").update(plain).digest("hex")}`;
}

/** Creates the runner of one account (not started). */
export function createChannelRunner(o: ChannelRunnerOptions): ChannelRunner {
  const type = o.adapter.type;
  const account = o.options.account;
  const id = `${type}/${account}`;
  // the live view's id: one subject token
  const actorId = `${encodeToken(type)}-${encodeToken(account)}`;
  const emit = o.onEvent ?? (() => {});
  const stopping = new AbortController();
  const log = o.log.child({ channel: type, account });
  let connection: ChannelConnection | undefined;
  let outbound: { stop(): Promise<void>; failed: Promise<Error> } | undefined;

  // ---- the way in ----

  const chains = new Map<string, Promise<void>>();
  const statePrefix = `${encodeToken(type)}.${encodeToken(account)}.`;
  const host: AdapterHost = {
    account,
    log,
    state: {
      get: async (name) => {
        const e = await retrying("state read", () => o.state.get(statePrefix + encodeToken(name)));
        return e?.operation === "PUT" ? e.string() : undefined;
      },
      put: async (name, value) => void (await retrying("state write", () => o.state.put(statePrefix + encodeToken(name), value))),
    },
    receive(m) {
      // one chat's messages are published in the order they were handed over
      const prev = chains.get(m.chat) ?? Promise.resolve();
      const next = prev.then(() => accept(m));
      const link = next.catch(() => undefined);
      chains.set(m.chat, link);
      void link.then(() => {
        if (chains.get(m.chat) === link) chains.delete(m.chat);
      });
      return next;
    },
  };

  async function deadLetterNative(m: NativeMessage, code: string, reason: string, field?: string): Promise<void> {
    let subject: string;
    try {
      subject = inboundSubject({ channel: type, account, chat: m.chat });
    } catch {
      subject = inboundSubject({ channel: type, account, chat: "" });
    }
    const d: DeadLetter = {
      stage: "adapter",
      code,
      reason,
      subject,
      data: m.data,
      stream: id,
      streamSeq: 0,
      deliveries: 1,
      node: o.nodeId,
      field,
      lastError: reason,
      dedupeId: `dlq:${m.id !== undefined ? nativeMessageId(type, account, m.id) : nuid.next()}`,
    };
    await retrying("dead letter", () => publishDeadLetter(o.bus.publisher, d));
    emit({ type: "channel.dead", channel: type, account, stage: "adapter", code, reason });
  }

  /** Tries `f` until it succeeds or the runner stops (NATS away is waited out, not given up on). */
  async function retrying<T>(what: string, f: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await f();
      } catch (e) {
        if (stopping.signal.aborted) throw new Error(`the channel ${id} is stopping: ${what} not done`, { cause: e });
        if (!isTransientFailure(e)) throw e;
        const retryInMs = backoffDelay(o.backoff, attempt);
        emit({ type: "channel.publish.failed", channel: type, account, error: (e as Error).message, retryInMs });
        await delay(retryInMs, stopping.signal).catch(() => undefined);
      }
    }
  }

  async function accept(m: NativeMessage): Promise<void> {
    let envelope: Envelope;
    try {
      const input = parseNativePayload(m.data);
      const msgId = m.id !== undefined ? nativeMessageId(type, account, m.id) : nuid.next();
      const metadata = { ...input.metadata, [type]: m.metadata ?? {}, ...(m.routing ? { [NATIVE_METADATA]: m.routing } : {}) };
      envelope = completeInbound({ id: msgId, sender: input.sender ?? { id: m.chat || "unknown" }, text: input.text, media: input.media, metadata }, { id: msgId, ts: Date.now(), channel: type, account, chat: m.chat });
    } catch (e) {
      if (e instanceof NativePayloadError) return deadLetterNative(m, e.code, e.message);
      if (e instanceof EnvelopeError) return deadLetterNative(m, "invalid_envelope", e.message, e.field);
      throw e;
    }
    let subject: string;
    try {
      subject = inboundSubject(envelope);
    } catch (e) {
      if (e instanceof InvalidSubjectError) return deadLetterNative(m, "invalid_address", `the chat cannot be addressed: ${e.message}`);
      throw e;
    }
    const data = encode(envelope);
    if (data.length > o.maxPayload) return deadLetterNative(m, "too_large", `the message is ${data.length} bytes; the most NATS takes is ${o.maxPayload}`);
    const ack = await retrying("publish", () =>
      publishDurable(o.bus.publisher, { subject, data, msgId: envelope.id, headers: { [H.contentType]: CONTENT_TYPE_MSGPACK, [H.node]: o.nodeId } }, { totalMs: 5_000 }),
    );
    emit({ type: "channel.received", channel: type, account, duplicate: ack.duplicate });
  }

  // ---- the way out ----

  async function deadLetterReply(m: JsMsg, code: string, reason: string): Promise<void> {
    await retrying("dead letter", () => publishDeadLetter(o.bus.publisher, deadLetterOf(m, { stage: "out", code, reason, node: o.nodeId })));
    m.ack();
    emit({ type: "channel.dead", channel: type, account, stage: "out", code, reason });
  }

  async function deliver(c: ChannelConnection, m: JsMsg): Promise<void> {
    let envelope: Envelope;
    try {
      envelope = parseEnvelope(decode(m.data));
    } catch (e) {
      return deadLetterReply(m, "invalid_envelope", (e as Error).message);
    }
    const started = performance.now();
    // a slow native side must not let the reply's ack wait run out
    const keepAlive = setInterval(() => m.working(), Math.max(1_000, Math.floor(o.consumer.ackWaitMs / 3)));
    try {
      const native = envelope.metadata[NATIVE_METADATA];
      await within(c.send({ envelope, routing: typeof native === "object" && native !== null ? (native as Record<string, unknown>) : undefined }), SEND_TIMEOUT_MS, "the native side did not confirm the reply");
      m.ack();
      emit({ type: "channel.sent", channel: type, account, ms: performance.now() - started });
    } catch (e) {
      if (e instanceof RefusedSendError) return deadLetterReply(m, e.code, e.message);
      const retryInMs = e instanceof RetryLaterError ? e.retryAfterMs : backoffDelay(o.backoff, m.info.deliveryCount);
      m.nak(retryInMs);
      emit({ type: "channel.send.failed", channel: type, account, error: (e as Error).message, retryInMs });
    } finally {
      clearInterval(keepAlive);
    }
  }

  async function startOutbound(c: ChannelConnection): Promise<{ stop(): Promise<void>; failed: Promise<Error> }> {
    const spec = channelConsumerSpec(type, account, o.consumer);
    await ensureConsumer(o.bus.jsm, STREAMS.out, spec);
    const consumer = await o.bus.js.consumers.get(STREAMS.out, spec.durable_name);
    let stopped = false;
    // fetches rather than a consume: a reply fetched and not yet sent when the connection goes is nak'ed here
    // (a consume would drop what it buffered, and that would wait out its ack wait)
    const loop = (async (): Promise<Error> => {
      try {
        while (!stopped) {
          const batch = await consumer.fetch({ max_messages: SEND_CONCURRENCY, expires: FETCH_EXPIRES_MS });
          // chats side by side, each chat's replies one after the other (its subject names the chat)
          const chats = new Map<string, Promise<void>>();
          for await (const m of batch) {
            if (stopped) {
              m.nak();
              continue;
            }
            const next = (chats.get(m.subject) ?? Promise.resolve()).then(() => deliver(c, m));
            chats.set(m.subject, next);
          }
          await Promise.all(chats.values());
        }
        return new Error("the reply loop stopped");
      } catch (e) {
        return e as Error;
      }
    })();
    return {
      failed: loop.then((e) => (stopped ? new Promise<Error>(() => {}) : e)),
      async stop() {
        stopped = true;
        await loop;
      },
    };
  }

  // ---- the lifecycle ----

  let teardown: Promise<void> | undefined;
  /** Stops delivering replies and closes the connection (once per connection). */
  function closeConnection(): Promise<void> {
    const c = connection;
    const out = outbound;
    connection = undefined;
    outbound = undefined;
    if (!c) return teardown ?? Promise.resolve();
    teardown = (async () => {
      // the connection first: a send in flight fails (its reply is delivered again), so the reply loop can end
      await c.close().catch((e: unknown) => log.debug({ err: e }, "closing the channel connection failed"));
      await out?.stop();
    })();
    return teardown;
  }

  const machine = channelMachine.provide({
    actors: {
      connect: fromPromise<void>(async ({ signal }) => {
        await teardown;
        let c: ChannelConnection;
        try {
          c = await connectWithin(o.adapter.connect(o.options, host, signal), CONNECT_TIMEOUT_MS);
        } catch (e) {
          emit({ type: "channel.connect.failed", channel: type, account, error: (e as Error).message });
          throw e;
        }
        connection = c;
        try {
          outbound = await startOutbound(c);
        } catch (e) {
          await closeConnection();
          throw e;
        }
        if (signal.aborted) {
          await closeConnection();
          throw new Error("stopped while connecting");
        }
        emit({ type: "channel.connected", channel: type, account });
      }),
      watch: fromPromise<Error>(async () => {
        const why = await Promise.race([connection!.lost, outbound!.failed]);
        emit({ type: "channel.lost", channel: type, account, error: why.message });
        await closeConnection();
        return why;
      }),
    },
    delays: {
      backoff: ({ context }) => backoffDelay(o.backoff, context.attempt),
    },
  });
  const actor = createActor(machine, { input: { type, account } });

  return {
    id,
    start() {
      o.inspection?.register("channel", actorId, actor);
      actor.start();
      actor.send({ type: "start" });
    },
    status() {
      const s = actor.getSnapshot();
      return { ...s.context, state: String(s.value) };
    },
    async stop() {
      stopping.abort();
      actor.stop();
      o.inspection?.forget("channel", actorId);
      await closeConnection();
      await Promise.all(chains.values());
    },
  };
}
