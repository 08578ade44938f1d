/**
 * How the gateway hands messages to Claw: validated as ingress will validate
 * them, published durably to `claw.in.<channel>.<account>.<chat>` (503 at once
 * while NATS cannot take them), and — for the request/response endpoints —
 * the reply awaited on `claw.out.…`, with the streamed pieces of it from
 * `claw.delta.…` when the caller wants them.
 */
import { nuid } from "@nats-io/transport-node";
import {
  completeInbound,
  CONTENT_TYPE_MSGPACK,
  decode,
  decodeReplyPiece,
  deltaSubject,
  encode,
  encodeToken,
  EnvelopeError,
  H,
  inboundSubject,
  InvalidSubjectError,
  isStorageFull,
  isTransientNatsError,
  MAX_PAYLOAD_DEPTH,
  nestsDeeper,
  outboundSubject,
  publishDurable,
  PublishError,
  type Bus,
  type ChatAddress,
  type Envelope,
} from "../bus/index.js";
import { HttpError, unavailableError } from "./errors.js";
import { fromEnvelopeError } from "./schemas.js";
import { storedReply } from "./stored-reply.js";

/** `CLAW_IN`'s duplicate window when the node does not say (the streams' default). */
const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
/** Nodes' and servers' clocks may disagree by this much: a reply is searched for that much earlier. */
const CLOCK_SLACK_MS = 30_000;

/** Options of {@link createInbound}. */
export interface InboundOptions {
  bus: Bus;
  nodeId: string;
  maxPayload: number;
  /** how long an accepting publish may retry before the request is answered 503 (default 5 s) */
  publishTimeoutMs?: number;
  /** the bus' problem when it cannot take messages now */
  busProblem?: () => { code: string; reason: string } | undefined;
  /** a publish that failed: lets the node's bus health learn of a full store before its next probe */
  observePublishError?: (e: unknown) => void;
  /** a request refused because the bus could not take it (for metrics) */
  onRefused?: (reason: string) => void;
  /** `CLAW_IN`'s duplicate window: how long a retry can be absorbed into its first try's turn */
  duplicateWindowMs?: number;
}

/** The gateway's way in. */
export interface Inbound {
  /** throws 503 while the bus cannot take messages */
  checkAvailable(): void;
  /** validates and publishes; resolves with the message id once durable (`traceparent`: the span the message's trace continues) */
  accept(addr: ChatAddress, input: Record<string, unknown>, idempotencyKey?: string, traceparent?: string): Promise<{ id: string; duplicate: boolean }>;
  /** accepts a message and waits for its reply (504 after `timeoutMs`); `onDelta` receives the reply's pieces as they stream */
  converse(
    addr: ChatAddress,
    input: Record<string, unknown>,
    o: { idempotencyKey?: string; timeoutMs: number; onDelta?: (text: string) => void; traceparent?: string },
  ): Promise<{ id: string; reply: Envelope }>;
}

/**
 * Throws a 400 naming the part of `addr` that cannot be a subject token (too
 * long once encoded): the caller's input is at fault, not the bus, so it is
 * not a 503 to retry. `names` says what the caller called a part (`chat`
 * is an invoke's `session`).
 */
export function checkChatAddress(addr: ChatAddress, names: Partial<Record<keyof ChatAddress, string>> = {}): void {
  for (const part of ["channel", "account", "chat"] as const) {
    try {
      encodeToken(addr[part]);
    } catch (e) {
      if (!(e instanceof InvalidSubjectError)) throw e;
      const field = names[part] ?? part;
      throw new HttpError(400, "invalid_address", `${field}: ${e.message}`, field, { cause: e });
    }
  }
}

/** Creates the gateway's inbound path. */
export function createInbound(o: InboundOptions): Inbound {
  function refused(problem: { code: string; reason: string }, cause?: unknown): HttpError {
    o.onRefused?.(problem.code);
    return unavailableError(problem, { cause });
  }

  const inbound: Inbound = {
    checkAvailable() {
      const problem = o.busProblem?.();
      if (problem) throw refused(problem);
    },
    async accept(addr, input, idempotencyKey, traceparent) {
      checkChatAddress(addr);
      const id = idempotencyKey ?? nuid.next();
      const body = { ...input, id };
      // same validation as ingress, so a bad message gets its 400 here instead of a dead letter later
      try {
        completeInbound(body, { id, ts: Date.now(), ...addr });
      } catch (e) {
        if (e instanceof EnvelopeError) throw fromEnvelopeError(e);
        throw e;
      }
      // what ingress would dead-letter for its depth is refused here (a WebSocket frame is not read by readJson)
      if (nestsDeeper(body, MAX_PAYLOAD_DEPTH)) throw new HttpError(400, "too_deep", `the message nests deeper than ${MAX_PAYLOAD_DEPTH} levels`);
      const data = encode(body);
      if (data.length > o.maxPayload) throw new HttpError(413, "too_large", `message exceeds the maximum of ${o.maxPayload} bytes`);
      try {
        const ack = await publishDurable(
          o.bus.publisher,
          {
            subject: inboundSubject(addr),
            data,
            msgId: id,
            // a tenant credential's message was counted against its tenant's messagesPerMinute at the door: not again on the bus
            headers: {
              [H.contentType]: CONTENT_TYPE_MSGPACK,
              [H.node]: o.nodeId,
              [H.quotaCounted]: "1",
              ...(traceparent ? { [H.traceparent]: traceparent } : {}),
            },
          },
          { totalMs: o.publishTimeoutMs ?? 5_000 },
        );
        return { id, duplicate: ack.duplicate };
      } catch (e) {
        if (!(e instanceof PublishError)) throw e;
        o.observePublishError?.(e);
        // the bus could not take it now (a full store, NATS away): the client may retry with the same idempotency key
        if (isStorageFull(e)) throw refused({ code: "storage_full", reason: "jetstream: storage full" }, e);
        if (isTransientNatsError(e.cause)) throw refused({ code: "unavailable", reason: `nats: ${(e.cause as Error).message}` }, e);
        throw e;
      }
    },
    async converse(addr, input, c) {
      checkChatAddress(addr);
      const id = c.idempotencyKey ?? nuid.next();
      // subscribe before publishing so the reply (and its first pieces) cannot slip past
      const replies = o.bus.nc.subscribe(outboundSubject(addr));
      const deltas = c.onDelta
        ? o.bus.nc.subscribe(deltaSubject(addr), {
            callback: (_e, m) => {
              const piece = decodeReplyPiece(m.data);
              if (piece?.replyTo === id) c.onDelta!(piece.text);
            },
          })
        : undefined;
      const timer = setTimeout(() => replies.unsubscribe(), c.timeoutMs);
      try {
        const since = Date.now() - (o.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS) - CLOCK_SLACK_MS;
        const { duplicate } = await inbound.accept(addr, input, id, c.traceparent);
        // a retry of a turn that already ended: its reply is on CLAW_OUT (nothing consumes the HTTP channel's)
        const earlier = duplicate ? await storedReply(o.bus.jsm, addr, id, since) : undefined;
        if (earlier) return { id, reply: earlier };
        for await (const m of replies) {
          const reply = decode<Envelope>(m.data);
          // a redelivered turn publishes its reply again: the first one answers
          if (reply.replyTo === id) return { id, reply };
        }
        throw new HttpError(504, "timeout", `no reply within ${c.timeoutMs} ms (message ${id} was accepted and will still be processed)`);
      } finally {
        clearTimeout(timer);
        replies.unsubscribe();
        deltas?.unsubscribe();
      }
    },
  };
  return inbound;
}
