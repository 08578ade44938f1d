/**
 * The way in of one channel account: a native message → `claw.in`
 * (durable, with its native id as the de-duplication id), a malformed one →
 * `CLAW_DLQ` stage `adapter` with its bytes and the reason. One chat's
 * messages are published in the order they were handed over. Used by the
 * account's runner (on the node holding its lease) and by webhooks (on
 * whichever node a platform's request reaches).
 */
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { nuid } from "@nats-io/transport-node";
import {
  backoffDelay,
  completeInbound,
  CONTENT_TYPE_MSGPACK,
  delay,
  encode,
  encodeToken,
  EnvelopeError,
  H,
  inboundSubject,
  InvalidSubjectError,
  isTransientFailure,
  NATIVE_METADATA,
  publishDeadLetter,
  publishDurable,
  channelEventSubject,
  type BackoffPolicy,
  type Bus,
  type DeadLetter,
  type Envelope,
} from "../bus/index.js";
import type { Logger } from "../log.js";
import { NativePayloadError, parseNativePayload } from "./native-payload.js";
import type { AdapterHost, ChannelRunnerEvent, NativeMessage } from "./types.js";

/** Options of {@link createAccountInbound}. */
export interface AccountInboundOptions {
  bus: Bus;
  type: string;
  account: string;
  nodeId: string;
  backoff: BackoffPolicy;
  maxPayload: number;
  /** KV `claw_channels` */
  state: KV;
  log: Logger;
  /** stops the retries: what was not taken yet is refused */
  signal: AbortSignal;
  /** give a message up (refuse it) after trying this long; default: until `signal` */
  giveUpAfterMs?: number;
  onEvent?: (e: ChannelRunnerEvent) => void;
}

/** The envelope id of a native message with a stable native id (≤ 200 characters, as envelope ids are). */
export function nativeMessageId(channel: string, account: string, id: string): string {
  const plain = `${channel}:${account}:${id}`;
  return plain.length <= 200 ? plain : `${channel}:${createHash("sha256").update(plain).digest("hex")}`;
}

/** The way in of one account: the host adapters hand messages to, and what the runner needs of it. */
export function createAccountInbound(o: AccountInboundOptions): {
  host: AdapterHost;
  /** tries `f` until it succeeds, NATS being away waited out (until stopped, or given up) */
  retrying<T>(what: string, f: () => Promise<T>): Promise<T>;
  /** resolves when what was handed over is settled */
  drain(): Promise<void>;
} {
  const { type, account } = o;
  const id = `${type}/${account}`;
  const emit = o.onEvent ?? (() => {});
  const chains = new Map<string, Promise<void>>();
  const statePrefix = `${encodeToken(type)}.${encodeToken(account)}.`;

  async function retrying<T>(what: string, f: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await f();
      } catch (e) {
        if (o.signal.aborted) throw new Error(`the channel ${id} is stopping: ${what} not done`, { cause: e });
        if (!isTransientFailure(e)) throw e;
        if (o.giveUpAfterMs !== undefined && Date.now() - started > o.giveUpAfterMs) throw e;
        const retryInMs = backoffDelay(o.backoff, attempt);
        emit({ type: "channel.publish.failed", channel: type, account, error: (e as Error).message, retryInMs });
        await delay(retryInMs, o.signal).catch(() => undefined);
      }
    }
  }

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

  async function accept(m: NativeMessage): Promise<void> {
    let envelope: Envelope;
    try {
      const input = parseNativePayload(m.data);
      const msgId = m.id !== undefined ? nativeMessageId(type, account, m.id) : nuid.next();
      const metadata = { ...input.metadata, [type]: m.metadata ?? {}, ...(m.routing ? { [NATIVE_METADATA]: m.routing } : {}) };
      envelope = completeInbound(
        { id: msgId, sender: input.sender ?? { id: m.chat || "unknown" }, text: input.text, media: input.media, metadata },
        { id: msgId, ts: Date.now(), channel: type, account, chat: m.chat },
      );
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
      publishDurable(
        o.bus.publisher,
        { subject, data, msgId: envelope.id, headers: { [H.contentType]: CONTENT_TYPE_MSGPACK, [H.node]: o.nodeId } },
        { totalMs: 5_000 },
      ),
    );
    emit({ type: "channel.received", channel: type, account, duplicate: ack.duplicate });
  }

  const host: AdapterHost = {
    account,
    log: o.log,
    announce: (event, data) => o.bus.nc.publish(channelEventSubject(type, account, event), JSON.stringify({ ...data, node: o.nodeId, ts: Date.now() })),
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
  return { host, retrying, drain: async () => void (await Promise.all(chains.values())) };
}
