/**
 * `@claw/sdk/bus`: Claw's bus side for outside systems, on NATS JetStream
 * (Node). `publish` sends a message to `claw.in.<channel>.<account>.<chat>`
 * as a JetStream publish with `Nats-Msg-Id`, so one id is one message however
 * often it is sent; `replies` reads the replies of a channel from `CLAW_OUT`
 * through a durable consumer and acks each once the loop has taken it, so a
 * reader that stops and starts again (the same `durable`) gets every reply
 * once — what docs/wire-format.md ("Each reply once") tells a subscriber to
 * do by hand.
 */
import { readFileSync } from "node:fs";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { connect, credsAuthenticator, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { unpack } from "msgpackr";
import { inboundSubject, subjectToken } from "./subject.js";

export { inboundSubject, outboundSubject, subjectToken, MAX_TOKEN_LENGTH, type ChatAddress } from "./subject.js";

/** The stream the node keeps replies in, each until one consumer acks it. */
export const REPLIES_STREAM = "CLAW_OUT";
const NS_PER_MS = 1_000_000;

/** Options of {@link ClawBus.connect}. */
export interface BusConnectOptions {
  /** the NATS server(s): `nats://127.0.0.1:4222` */
  servers: string | string[];
  /** a `.creds` file: its path, or its contents */
  creds?: string;
  /** a token the server takes */
  token?: string;
  /** user and password the server takes */
  user?: string;
  pass?: string;
  /** the connection's name, as the server shows it */
  name?: string;
}

/** Who sent a message. */
export interface Sender {
  id: string;
  name?: string;
}

/** An attachment, by URL. */
export interface Media {
  type: "image" | "audio" | "video" | "file" | "sticker" | "location";
  url?: string;
  mime?: string;
  name?: string;
  size?: number;
}

/** What {@link ClawBus.publish} sends (docs/wire-format.md, "Inbound fields"). */
export interface BusMessage {
  channel: string;
  account: string;
  chat: string;
  text?: string;
  media?: Media[];
  sender: Sender | string;
  /** the message's id and `Nats-Msg-Id`: the same id again within the stream's duplicate window is absorbed (made for you when absent) */
  id?: string;
  metadata?: Record<string, unknown>;
  replyTo?: string;
}

/** A reply as the node writes it to `claw.out.…` (msgpack on the wire): `replyTo` is the message's id, `kind` `error` when it failed. */
export interface ReplyEnvelope {
  v?: number;
  id: string;
  ts: number;
  channel: string;
  account: string;
  chat: string;
  sender: Sender;
  kind: "message" | "reply" | "event" | "error";
  text?: string;
  media: Media[];
  replyTo?: string;
  metadata: Record<string, unknown>;
  trace: { traceparent?: string };
}

/** Options of {@link ClawBus.replies}. */
export interface RepliesOptions {
  /** the channel whose replies to read */
  channel: string;
  /** one account of it (default: every account) */
  account?: string;
  /** the consumer's name: a reader that starts again under the same name goes on where the last one stopped */
  durable: string;
  /** how long a reply taken and not acked (the reader died) waits before it is delivered again, in ms (default 30 000) */
  ackWaitMs?: number;
  /** stops the loop */
  signal?: AbortSignal;
}

/** A connection to the bus of a Claw cluster. */
export class ClawBus {
  readonly nc: NatsConnection;
  private readonly js: JetStreamClient;
  private readonly jsm: JetStreamManager;

  private constructor(nc: NatsConnection, jsm: JetStreamManager) {
    this.nc = nc;
    this.js = jetstream(nc);
    this.jsm = jsm;
  }

  /** Connects to the NATS servers of a Claw cluster. */
  static async connect(o: BusConnectOptions): Promise<ClawBus> {
    const creds = o.creds === undefined ? undefined : o.creds.includes("-----BEGIN") ? o.creds : readFileSync(o.creds, "utf8");
    const nc = await connect({
      servers: o.servers,
      name: o.name ?? "claw-sdk",
      ...(creds ? { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) } : {}),
      ...(o.token ? { token: o.token } : {}),
      ...(o.user ? { user: o.user, pass: o.pass } : {}),
    });
    try {
      return new ClawBus(nc, await jetstreamManager(nc));
    } catch (e) {
      await nc.close();
      throw e;
    }
  }

  /**
   * Publishes a message for an agent to answer; resolves once JetStream holds it, with its stream sequence and whether it
   * was a duplicate of an id published before (then nothing new was stored).
   */
  async publish(m: BusMessage): Promise<{ seq: number; duplicate: boolean; id: string }> {
    const { channel, account, chat, sender, id = crypto.randomUUID(), ...rest } = m;
    const subject = inboundSubject({ channel, account, chat });
    const h = natsHeaders();
    h.set("Content-Type", "application/json");
    const body = JSON.stringify({ ...rest, id, sender: typeof sender === "string" ? { id: sender } : sender });
    const ack = await this.js.publish(subject, body, { msgID: id, headers: h });
    return { seq: ack.seq, duplicate: ack.duplicate, id };
  }

  /**
   * The channel's replies, decoded, each once: a reply is acked when the loop asks for the next one or leaves (`break`,
   * `return`, a throw); one whose reader died before that comes again (after `ackWaitMs`) to the next reader of the same
   * `durable`. The consumer is made on first use; its filter must not overlap another consumer's (CLAW_OUT is a work
   * queue: a channel the node itself serves is read by the node).
   */
  async *replies(o: RepliesOptions): AsyncGenerator<ReplyEnvelope> {
    const filter = `claw.out.${subjectToken(o.channel)}.${o.account === undefined ? "*" : subjectToken(o.account)}.*`;
    await this.ensureConsumer(o.durable, filter, o.ackWaitMs ?? 30_000);
    const consumer = await this.js.consumers.get(REPLIES_STREAM, o.durable);
    while (!o.signal?.aborted && !this.nc.isClosed()) {
      const m: JsMsg | null = await consumer.next({ expires: 5_000 }).catch((e: unknown) => {
        if (this.nc.isClosed() || o.signal?.aborted) return null;
        throw e;
      });
      if (!m) continue;
      try {
        yield unpack(m.data) as ReplyEnvelope;
      } finally {
        // the loop took it (asked for the next, or left): it is done for this durable. An ack the closed connection could
        // not send is no ack: the reply comes again to the next reader, as after a crash.
        await this.ack(m);
      }
    }
  }

  /**
   * Acks `m` and waits for the server to confirm it (a confirmed ack is never delivered again), trying again when the
   * confirmation does not come: acking twice is harmless, a lost ack would be a second delivery.
   */
  private async ack(m: JsMsg): Promise<void> {
    for (let attempt = 1; !this.nc.isClosed(); attempt++) {
      try {
        // false: the message had been acked already
        await m.ackAck({ timeout: 5_000 });
        return;
      } catch (e) {
        if (this.nc.isClosed()) return;
        if (attempt >= 3) throw e;
      }
    }
  }

  private async ensureConsumer(durable: string, filter: string, ackWaitMs: number): Promise<void> {
    const config = {
      durable_name: durable,
      filter_subject: filter,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ackWaitMs * NS_PER_MS,
      max_deliver: -1,
    };
    const existing = await this.jsm.consumers.info(REPLIES_STREAM, durable).catch(() => undefined);
    if (!existing) await this.jsm.consumers.add(REPLIES_STREAM, config);
    else if (existing.config.filter_subject !== filter || existing.config.ack_wait !== config.ack_wait)
      await this.jsm.consumers.update(REPLIES_STREAM, durable, { filter_subject: filter, ack_wait: config.ack_wait });
  }

  /** Closes the connection (after what it sent is flushed). */
  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain();
  }
}
