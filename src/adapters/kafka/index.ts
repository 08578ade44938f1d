/**
 * Kafka through kafkajs: a consumer group reads the account's topics, and
 * each batch's offsets are committed only once every message of it is on
 * `claw.in` (so a crash reads the batch again: the offsets are the messages'
 * ids, and the redelivery is absorbed). Replies are produced to `replyTopic`
 * with the message's key, `acks: all`.
 *
 * - The chat: the message key (no key: `default`); Kafka keeps one key's
 *   messages in one partition, in order, and so does Claw.
 * - A native id: `<topic>:<partition>:<offset>`.
 * - Batching: a batch's messages are published to `claw.in` together (one
 *   chat's in order, chats side by side) and committed with one commit.
 * - Where it runs: one node per account at a time, under its lease (one member in the group).
 */
import type { Consumer, KafkaMessage, Producer } from "kafkajs";
import { z } from "zod";
import { defineAdapter } from "../define-adapter.js";
import { EVERY_MEDIUM } from "../fit-reply.js";
import { replyPayload } from "../native-payload.js";
import { RefusedSendError, type AdapterHost, type ChannelConnection } from "../types.js";

export const KafkaOptionsSchema = z
  .object({
    type: z.literal("kafka"),
    account: z.string().min(1).max(128),
    /** `host:port` of the bootstrap brokers */
    brokers: z.array(z.string().regex(/^[^\s:]+:\d+$/, "host:port")).min(1),
    topics: z.array(z.string().min(1).max(249)).min(1),
    /** the consumer group (default `claw-<account>`) */
    groupId: z.string().min(1).max(255).optional(),
    replyTopic: z.string().min(1).max(249),
    clientId: z.string().min(1).max(255).optional(),
    /** SASL/PLAIN credentials (`passwordEnv` for the password), over TLS when `ssl` */
    username: z.string().optional(),
    password: z.string().optional(),
    ssl: z.boolean().default(false),
    /** read a new group's topics from their start (default) or only what comes after it joined */
    fromBeginning: z.boolean().default(true),
    /**
     * how long the group waits for a silent member before it gives its partitions to
     * another: after a node dies, the account's next node reads on after about this long
     */
    sessionTimeoutMs: z.number().int().min(6_000).max(300_000).default(10_000),
  })
  .strict();

export type KafkaOptions = z.infer<typeof KafkaOptionsSchema>;

const keyOf = (m: KafkaMessage) => (m.key && m.key.length > 0 ? m.key.toString("utf8") : "default");

async function connect(o: KafkaOptions, host: AdapterHost): Promise<ChannelConnection> {
  const { Kafka, logLevel } = await import("kafkajs");
  const kafka = new Kafka({
    clientId: o.clientId ?? `claw-${o.account}`,
    brokers: o.brokers,
    ssl: o.ssl,
    sasl: o.username !== undefined ? { mechanism: "plain", username: o.username, password: o.password ?? "" } : undefined,
    connectionTimeout: 10_000,
    // a few quick retries inside kafkajs; past those the runner backs off and reconnects (and says so)
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2_000 },
    logLevel: logLevel.NOTHING,
  });
  let closing = false;
  let lose!: (e: Error) => void;
  const lost = new Promise<Error>((r) => (lose = r));
  const fail = (e: Error) => {
    if (!closing) lose(e);
  };
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: true, idempotent: false });
  const consumer: Consumer = kafka.consumer({
    groupId: o.groupId ?? `claw-${o.account}`,
    sessionTimeout: o.sessionTimeoutMs,
    heartbeatInterval: Math.max(500, Math.floor(o.sessionTimeoutMs / 10)),
    retry: { retries: 3, restartOnFailure: async () => false },
  });
  consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error));
  producer.on(producer.events.DISCONNECT, () => fail(new Error("the Kafka producer disconnected")));
  try {
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: o.topics, fromBeginning: o.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const taken: Array<Promise<void>> = [];
        for (const m of batch.messages) {
          if (!isRunning() || isStale()) break;
          taken.push(
            host.receive({
              chat: keyOf(m),
              data: m.value ?? Buffer.alloc(0),
              id: `${batch.topic}:${batch.partition}:${m.offset}`,
              metadata: { topic: batch.topic, partition: batch.partition, offset: m.offset, ...(m.key ? { key: m.key.toString("utf8") } : {}) },
            }),
          );
        }
        // the whole batch is on claw.in (or dead-lettered) before its offsets move
        await Promise.all(taken);
        const last = batch.messages[taken.length - 1];
        if (!last) return;
        resolveOffset(last.offset);
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
        await heartbeat();
      },
    });
  } catch (e) {
    closing = true;
    await Promise.allSettled([consumer.disconnect(), producer.disconnect()]);
    throw e;
  }
  return {
    lost,
    async send({ envelope }) {
      try {
        await producer.send({
          topic: o.replyTopic,
          acks: -1,
          messages: [
            { key: envelope.chat, value: replyPayload(envelope), headers: { "claw-reply-to": envelope.replyTo ?? "", "claw-message-id": envelope.id } },
          ],
        });
      } catch (e) {
        // the broker says no for good (too large, not allowed, an invalid topic): not worth retrying
        const err = e as { name?: string; retriable?: boolean; type?: string; message: string };
        if (err.name === "KafkaJSProtocolError" && err.retriable === false)
          throw new RefusedSendError(`Kafka refused the reply on ${o.replyTopic}: ${err.type ?? err.message}`, "refused");
        throw e;
      }
    },
    async close() {
      closing = true;
      // what was not committed is read again by the next member of the group
      await Promise.allSettled([consumer.disconnect(), producer.disconnect()]);
    },
  };
}

/** The Kafka channel type. */
export const kafkaAdapter = defineAdapter({
  type: "kafka",
  options: KafkaOptionsSchema,
  // the reply's JSON carries its media as they are (references)
  capabilities: { threads: false, edits: false, media: EVERY_MEDIUM },
  connect: (o, host) => connect(o, host),
});
