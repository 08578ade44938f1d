/**
 * The channel adapter seam: what an adapter is (a factory behind one
 * interface, its behaviour declared as data) and what the runner gives it.
 *
 * An adapter knows its protocol and nothing of NATS: it connects, hands each
 * native message to {@link AdapterHost.receive} and acks it natively once
 * that resolves (Claw holds it durably then), and sends replies it is given.
 * The runner (channel-runner.ts) does the rest: the lifecycle with backoff,
 * publishing to `claw.in`, dead letters, and consuming `claw.out`. A channel
 * type is one folder whose `index.ts` exports what `defineAdapter` made of
 * its {@link AdapterDefinition}, and one line in registry.ts.
 */
import type { z } from "zod";
import type { Envelope, ReplyPiece } from "../bus/index.js";
import type { Logger } from "../log.js";

/** A kind of medium a message can carry (the envelope's `media[].type`). */
export type MediaType = Envelope["media"][number]["type"];

/**
 * What a channel can do, as data. The seam reads it: a reply's media of a
 * type the channel does not send go as links in its text, and pieces of a
 * reply being written reach only a channel that edits. `GET /v1/channels`
 * shows it.
 */
export interface ChannelCapabilities {
  /** conversations have threads of their own */
  readonly threads: boolean;
  /** a sent message can be edited: a reply the agent streams is shown growing (the connection's `delta`) */
  readonly edits: boolean;
  /** the media a reply can carry here; any other medium with a URL goes as a link in the text */
  readonly media: readonly MediaType[];
  /** longest text one native message can carry */
  readonly maxTextLength?: number;
}

/** What every account's options have, whatever the channel type. */
export interface ChannelOptions {
  account: string;
}

/** A native message as an adapter hands it over. */
export interface NativeMessage {
  /** the chat it belongs to, raw (the runner makes it a subject token) */
  chat: string;
  /** the payload as received */
  data: Uint8Array;
  /**
   * a native id that is the same when the broker delivers the message again
   * (AMQP `message_id`, a Kafka offset): a redelivery is then absorbed
   * instead of becoming a second message. Absent: a crash between the
   * publish and the native ack can deliver it twice (at least once).
   */
  id?: string;
  /** native ids and details kept in the envelope's metadata (under the channel type) */
  metadata?: Record<string, unknown>;
  /** how to answer it natively: carried back on the reply (`metadata.native`) */
  routing?: Record<string, unknown>;
}

/** What the runner gives an adapter. */
export interface AdapterHost {
  readonly account: string;
  readonly log: Logger;
  /**
   * Takes a native message: resolves once it is durable on `claw.in` — or,
   * when it is malformed, once it is in the dead letters with the reason —
   * so the adapter acks it natively then. Rejects while NATS cannot take it:
   * the adapter must not ack it (the broker will deliver it again).
   */
  receive(m: NativeMessage): Promise<void>;
  /** a little state of the account's own, kept in KV (`claw_channels`) so that the next node to run it finds it */
  readonly state: AccountState;
  /**
   * Tells whoever listens (the CLI, the live view) something about the account
   * on `claw.events.channel.<type>.<account>.<event>` (core NATS, best effort):
   * a QR code to pair with, a pairing code, "paired".
   */
  announce(event: string, data: Record<string, unknown>): void;
}

/** Named values of one account, shared by whichever node runs it. */
export interface AccountState {
  get(name: string): Promise<string | undefined>;
  put(name: string, value: string): Promise<void>;
}

/**
 * The native side asks to be called again later (Telegram's 429 with
 * `retry_after`, Slack's `Retry-After`): the reply is sent again after that
 * long, not after the runner's own backoff.
 */
export class RetryLaterError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
    this.name = "RetryLaterError";
  }
}

/** A reply to send natively. */
export interface OutboundReply {
  envelope: Envelope;
  /** what the inbound message's adapter left for answering it (`metadata.native`), if anything */
  routing?: Record<string, unknown>;
}

/** A live connection of one account. */
export interface ChannelConnection {
  /** settles when the connection is lost (resolves with why); never when closed by {@link close} */
  readonly lost: Promise<Error>;
  /**
   * Sends a reply natively; resolves once the other side has it (a publisher
   * confirm, an acked publish). Throws {@link RefusedSendError} when the
   * native side refuses it for good, anything else when it may work later.
   */
  send(reply: OutboundReply): Promise<void>;
  /**
   * A piece of a reply the agent is still writing (best effort, from core
   * NATS: pieces may be missed). A channel that can edit what it sent shows
   * the reply growing, and `send` then finishes that message. Absent: the
   * reply comes whole.
   */
  delta?(piece: ChatReplyPiece): void;
  close(): Promise<void>;
}

/** A piece of a reply in the writing, and the chat it is for. */
export interface ChatReplyPiece extends ReplyPiece {
  chat: string;
}

/**
 * A channel type as an adapter folder declares it: its options' schema (the
 * options `connect` and `webhook` take are inferred from it), what it can do,
 * and how to connect an account. Made a {@link ChannelAdapter} by `defineAdapter`.
 */
export interface AdapterDefinition<S extends z.ZodType<ChannelOptions>> {
  readonly type: string;
  /** the account's options in `CLAW_CONFIG` `channels[]` (secrets already read from their `…Env` variables) */
  readonly options: S;
  readonly capabilities: ChannelCapabilities;
  /** connects one account; rejects when it cannot (the runner backs off and tries again) */
  connect(options: z.output<S>, host: AdapterHost, signal: AbortSignal): Promise<ChannelConnection>;
  /**
   * A platform's request to `POST /v1/webhooks/<type>/<account>`, on whichever
   * node it reached (not only the account's): checks it is the platform's
   * (a signature, a secret header), hands its messages to `host.receive`, and
   * says what to answer. Absent: the type takes no webhooks.
   */
  webhook?(options: z.output<S>, req: WebhookRequest, host: AdapterHost): Promise<WebhookAnswer>;
}

/**
 * A channel type as the registry and the runner use it, whatever its
 * options: what `defineAdapter` returns. Its `connect` and `webhook` take
 * the options its own schema parsed (`parseChannels` pairs them).
 */
export interface ChannelAdapter {
  readonly type: string;
  readonly options: z.ZodType<ChannelOptions>;
  readonly capabilities: ChannelCapabilities;
  readonly connect: (options: ChannelOptions, host: AdapterHost, signal: AbortSignal) => Promise<ChannelConnection>;
  readonly webhook?: (options: ChannelOptions, req: WebhookRequest, host: AdapterHost) => Promise<WebhookAnswer>;
}

/** A webhook request as the gateway read it. */
export interface WebhookRequest {
  headers: Record<string, string | string[] | undefined>;
  /** the body byte for byte (signatures are over the bytes) */
  body: Buffer;
}

/** What to answer a webhook request. */
export interface WebhookAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** The native side refused a reply for good (invalid, too large, forbidden): it goes to the dead letters. */
export class RefusedSendError extends Error {
  constructor(
    message: string,
    readonly code = "refused",
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "RefusedSendError";
  }
}

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
