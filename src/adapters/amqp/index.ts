/**
 * AMQP 0-9-1 (RabbitMQ) through amqplib: the account consumes one durable
 * queue with manual acks — a message is acked only once `claw.in` holds it —
 * and answers on a confirm channel.
 *
 * - The chat: the message's `claw-chat` header, else its `reply_to`, else `default`.
 * - A native id: `message_id` (set it, and a redelivery after a crash is absorbed).
 * - The reply: to `reply_to` (the default exchange) with the same
 *   `correlation_id`, else to `replyExchange` with `replyRoutingKey` (default:
 *   the chat); published `mandatory` and confirmed; a reply the broker cannot
 *   route (no such queue) is refused → dead letter `unroutable`.
 * - Where it runs: one node per account at a time, under its lease, so the queue's order is kept
 *   (several consumers of one queue would race each other to `claw.in`).
 */
import type { ConfirmChannel, ConsumeMessage } from "amqplib";
import { z } from "zod";
import { defineAdapter } from "../define-adapter.js";
import { EVERY_MEDIUM } from "../fit-reply.js";
import { replyPayload } from "../native-payload.js";
import { RefusedSendError, type AdapterHost, type ChannelConnection, type NativeMessage } from "../types.js";

export const AmqpOptionsSchema = z
  .object({
    type: z.literal("amqp"),
    account: z.string().min(1).max(128),
    /** `amqp://user:pass@host:5672/vhost` (or `urlEnv`: the variable that holds it) */
    url: z.string().regex(/^amqps?:\/\//, "must be an amqp:// or amqps:// URL"),
    queue: z.string().min(1).max(255),
    prefetch: z.number().int().min(1).max(10_000).default(32),
    replyExchange: z.string().max(255).optional(),
    replyRoutingKey: z.string().max(255).optional(),
  })
  .strict();

export type AmqpOptions = z.infer<typeof AmqpOptionsSchema>;

/** The header that names a message's chat. */
export const CHAT_HEADER = "claw-chat";

const text = (v: unknown): string | undefined => (typeof v === "string" ? v : Buffer.isBuffer(v) ? v.toString("utf8") : undefined);

/** What Claw keeps of an AMQP message, and where its reply goes. */
function nativeOf(queue: string, msg: ConsumeMessage): NativeMessage {
  const p = msg.properties;
  const replyTo = text(p.replyTo);
  const correlationId = text(p.correlationId);
  const messageId = text(p.messageId);
  const routing: Record<string, unknown> = {};
  if (replyTo) routing.replyTo = replyTo;
  if (correlationId) routing.correlationId = correlationId;
  return {
    chat: text(p.headers?.[CHAT_HEADER]) || replyTo || "default",
    data: msg.content,
    id: messageId,
    metadata: {
      queue,
      exchange: msg.fields.exchange,
      routingKey: msg.fields.routingKey,
      redelivered: msg.fields.redelivered,
      ...(messageId ? { messageId } : {}),
      ...(correlationId ? { correlationId } : {}),
      ...(text(p.appId) ? { appId: text(p.appId) } : {}),
    },
    routing: Object.keys(routing).length > 0 ? routing : undefined,
  };
}

async function connect(o: AmqpOptions, host: AdapterHost): Promise<ChannelConnection> {
  const amqp = await import("amqplib");
  const conn = await amqp.connect(o.url, { timeout: 10_000, clientProperties: { connection_name: `claw ${o.account}` } });
  let closing = false;
  let lose!: (e: Error) => void;
  const lost = new Promise<Error>((r) => (lose = r));
  const fail = (e: Error) => {
    if (!closing) lose(e);
  };
  conn.on("error", (e: Error) => host.log.warn({ err: e.message }, "AMQP connection error"));
  conn.on("close", (e?: Error) => fail(e ?? new Error("the AMQP connection closed")));
  let ch: ConfirmChannel;
  const returned = new Set<string>();
  try {
    ch = await conn.createConfirmChannel();
    ch.on("error", (e: Error) => host.log.warn({ err: e.message }, "AMQP channel error"));
    ch.on("close", () => fail(new Error("the AMQP channel closed")));
    // the broker hands an unroutable mandatory reply back before it confirms it
    ch.on("return", (m: { properties: { messageId?: unknown } }) => {
      const id = text(m.properties.messageId);
      if (id) returned.add(id);
    });
    await ch.assertQueue(o.queue, { durable: true });
    if (o.replyExchange) await ch.checkExchange(o.replyExchange);
    await ch.prefetch(o.prefetch);
    await ch.consume(
      o.queue,
      (msg) => {
        if (msg === null) return fail(new Error(`the broker cancelled the consumer of ${o.queue} (was the queue deleted?)`));
        const channel = ch;
        host.receive(nativeOf(o.queue, msg)).then(
          () => {
            try {
              channel.ack(msg);
            } catch {
              // the channel closed meanwhile: the broker delivers it again, and the publish's id absorbs it (with a message_id)
            }
          },
          (e: unknown) => {
            // Claw could not take it now (stopping, or NATS refused it): left unacked, it comes back once this channel closes
            host.log.warn({ err: (e as Error).message }, "an AMQP message was not taken; it stays with the broker");
          },
        );
      },
      { noAck: false },
    );
  } catch (e) {
    closing = true;
    await conn.close().catch(() => undefined);
    throw e;
  }

  return {
    lost,
    async send({ envelope, routing }) {
      const replyTo = typeof routing?.replyTo === "string" ? routing.replyTo : undefined;
      const correlationId = typeof routing?.correlationId === "string" ? routing.correlationId : undefined;
      let exchange: string;
      let routingKey: string;
      if (replyTo) [exchange, routingKey] = ["", replyTo];
      else if (o.replyExchange !== undefined) [exchange, routingKey] = [o.replyExchange, o.replyRoutingKey ?? envelope.chat];
      else throw new RefusedSendError("the message had no reply_to and the account has no replyExchange: the reply has nowhere to go", "no_route");
      const messageId = envelope.id;
      await new Promise<void>((resolve, reject) => {
        ch.publish(
          exchange,
          routingKey,
          Buffer.from(replyPayload(envelope)),
          { persistent: true, mandatory: true, contentType: "application/json", messageId, correlationId, headers: { [CHAT_HEADER]: envelope.chat } },
          (err: unknown) => (err ? reject(new Error(`the broker did not confirm the reply: ${String((err as Error)?.message ?? err)}`)) : resolve()),
        );
      });
      if (returned.delete(messageId)) {
        throw new RefusedSendError(`the broker could not route the reply (no queue bound to ${exchange ? `${exchange} / ` : ""}${routingKey})`, "unroutable");
      }
    },
    async close() {
      closing = true;
      // what was delivered and not acked goes back to the queue
      await conn.close().catch(() => undefined);
    },
  };
}

/** The AMQP channel type. */
export const amqpAdapter = defineAdapter({
  type: "amqp",
  options: AmqpOptionsSchema,
  // the reply's JSON carries its media as they are (references)
  capabilities: { threads: false, edits: false, media: EVERY_MEDIUM },
  connect: (o, host) => connect(o, host),
});
