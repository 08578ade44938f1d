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
import type { JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Subscription } from "@nats-io/transport-node";
import { createActor, fromPromise, type Actor } from "xstate";
import {
  backoffDelay,
  channelConsumerSpec,
  deadLetterOf,
  decode,
  decodeReplyPiece,
  channelActorId,
  ensureConsumer,
  NATIVE_METADATA,
  parseDeltaSubject,
  parseEnvelope,
  publishDeadLetter,
  STREAMS,
  wildcards,
  within,
  type BackoffPolicy,
  type Bus,
  type ConsumerOptions,
  type Envelope,
} from "../bus/index.js";
import type { Logger } from "../log.js";
import { createAccountInbound } from "./account-inbound.js";
import { channelMachine, type ChannelContext } from "./channel.machine.js";
import { RefusedSendError, RetryLaterError, type ChannelAdapter, type ChannelConnection, type ChannelRunnerEvent } from "./types.js";

export type { ChannelRunnerEvent } from "./types.js";

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

/** Resolves with the connection, or rejects after `ms`; a connection that arrives late is closed. */
async function connectWithin(p: Promise<ChannelConnection>, ms: number): Promise<ChannelConnection> {
  try {
    return await within(p, ms, () => new Error(`no connection within ${ms} ms`));
  } catch (e) {
    void p.then((late) => late.close()).catch(() => undefined);
    throw e;
  }
}

/** Creates the runner of one account (not started). */
export function createChannelRunner(o: ChannelRunnerOptions): ChannelRunner {
  const type = o.adapter.type;
  const account = o.options.account;
  const id = `${type}/${account}`;
  // the live view's id: one subject token
  const actorId = channelActorId(type, account);
  const emit = o.onEvent ?? (() => {});
  const stopping = new AbortController();
  const log = o.log.child({ channel: type, account });
  let connection: ChannelConnection | undefined;
  let outbound: { stop(): Promise<void>; failed: Promise<Error> } | undefined;

  // ---- the way in ----

  const inbound = createAccountInbound({ bus: o.bus, type, account, nodeId: o.nodeId, backoff: o.backoff, maxPayload: o.maxPayload, state: o.state, log, signal: stopping.signal, onEvent: emit });
  const host = inbound.host;
  const retrying = inbound.retrying;

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
      const routing = typeof native === "object" && native !== null ? (native as Record<string, unknown>) : undefined;
      await within(c.send({ envelope, routing }), SEND_TIMEOUT_MS, () => new Error(`the native side did not confirm the reply within ${SEND_TIMEOUT_MS} ms`));
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
  /** the subscription to the pieces of replies being written (while connected, for a channel that shows them) */
  let pieces: Subscription | undefined;
  /** Stops delivering replies and closes the connection (once per connection). */
  function closeConnection(): Promise<void> {
    const c = connection;
    const out = outbound;
    pieces?.unsubscribe();
    pieces = undefined;
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
        // the pieces of replies being written, for a channel that shows them growing
        const c = connection!;
        pieces = c.delta
          ? o.bus.nc.subscribe(wildcards.deltasOfAccount(type, account), {
              callback: (_e, m) => {
                const piece = decodeReplyPiece(m.data);
                const to = parseDeltaSubject(m.subject);
                if (piece && to) c.delta!({ ...piece, chat: to.chat });
              },
            })
          : undefined;
        const why = await Promise.race([c.lost, outbound!.failed]);
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
      await inbound.drain();
    },
  };
}
