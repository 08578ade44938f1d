/**
 * The Kafka channel against librdkafka's mock cluster (through kcat, which
 * is also the other side of the round trip), and kafkajs where the test needs
 * bytes kcat cannot send. Offsets are committed only once the messages are on
 * `claw.in`: a node SIGKILLed mid-stream loses nothing, and what its
 * successor reads again is absorbed.
 */
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { Kafka, logLevel, type KafkaMessage } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { brokerMissing, startKafkaMock, type KafkaMock } from "../support/brokers.js";
import { skipWithout } from "../support/ci.js";
import { metric } from "../support/metrics.js";
import { startClaw } from "../support/claw-node.js";
import { client, natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { arrivals, channelConfig, type Arrivals } from "../support/channels.js";

const run = promisify(execFile);
const missing = brokerMissing("kafka");

/** Produces with kcat: `key:value` lines. */
async function kcatProduce(brokers: string[], topic: string, lines: string[]): Promise<void> {
  const p = spawn("kcat", ["-b", brokers.join(","), "-P", "-t", topic, "-K", ":"], { stdio: ["pipe", "ignore", "pipe"] });
  let err = "";
  p.stderr.on("data", (b: Buffer) => (err += b.toString()));
  p.stdin.end(lines.join("\n") + "\n");
  const code = await new Promise<number | null>((r) => p.once("exit", r));
  if (code !== 0) throw new Error(`kcat -P exited with ${code}: ${err}`);
}

/** Every message on `topic`, read by a kafkajs consumer of its own group. */
async function collect(kafka: Kafka, topic: string): Promise<Arrivals<KafkaMessage> & { stop(): Promise<void> }> {
  const consumer = kafka.consumer({ groupId: `test-${Math.random().toString(36).slice(2, 8)}` });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const a = arrivals<KafkaMessage>(topic);
  await consumer.run({ eachMessage: async ({ message }) => void a.got.push(message) });
  return { ...a, got: a.got, until: (n, timeoutMs = 30_000) => a.until(n, timeoutMs), stop: () => consumer.disconnect() };
}

describe.skipIf(skipWithout("channels-kafka", missing))("the Kafka channel", () => {
  let mock: KafkaMock;
  let nats: NatsServerProcess;
  let kafka: Kafka;
  beforeAll(async () => {
    [mock, nats] = await Promise.all([startKafkaMock(), natsServer()]);
    kafka = new Kafka({ brokers: mock.brokers, logLevel: logLevel.NOTHING });
    // the mock creates a topic when it is first asked about (its createTopics answers an error: ENVIRONMENT.md)
    const admin = kafka.admin();
    await admin.connect();
    await admin.fetchTopicMetadata({ topics: ["orders", "replies", "stream", "stream-replies"] });
    const listed = await admin.listTopics();
    await admin.disconnect();
    for (const t of ["orders", "replies", "stream", "stream-replies"]) expect(listed).toContain(t);
  }, 60_000);
  afterAll(async () => {
    await mock?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  }, 30_000);

  it("answers kcat on the reply topic with the same key, and dead-letters a malformed payload", async () => {
    const config = await channelConfig([{ type: "kafka", account: "shop", brokers: mock.brokers, topics: ["orders"], replyTopic: "replies" }]);
    await using node = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_NODE_ID: "k" } });
    void node;
    await kcatProduce(mock.brokers, "orders", ["order-7:where is my parcel?"]);
    // the broker's own tool reads the reply: the key is the chat
    const { stdout } = await run("kcat", ["-b", mock.brokers.join(","), "-C", "-t", "replies", "-o", "beginning", "-c", "1", "-f", "%k\t%s\n"], {
      timeout: 30_000,
    });
    const [key, value] = stdout.trim().split("\t") as [string, string];
    expect(key).toBe("order-7");
    expect(JSON.parse(value)).toMatchObject({ text: "where is my parcel?", kind: "reply", chat: "order-7" });

    const p = kafka.producer();
    await p.connect();
    const bad = Buffer.from([0xfe, 0xff, 0x41]);
    await p.send({ topic: "orders", messages: [{ key: "order-8", value: bad }] });
    await using c = await client(nats.url);
    const dead = await waitForDeadLetters(c.jsm, (all) => all.some((d) => d.stage === "adapter"));
    const letter = dead.find((d) => d.stage === "adapter")!;
    expect(letter).toMatchObject({ code: "invalid_payload", originalSubject: "claw.in.kafka.shop.order-8" });
    expect(Buffer.from(letter.data)).toEqual(bad);
    await p.send({ topic: "orders", messages: [{ key: "order-8", value: "and now?" }] });
    const replies = await collect(kafka, "replies");
    await replies.until(2);
    expect(replies.got.map((m) => m.key?.toString()).sort()).toEqual(["order-7", "order-8"]);
    await replies.stop();
    await p.disconnect();
  }, 60_000);

  it("commits offsets only once Claw holds the messages: a node SIGKILLed mid-stream loses nothing", async () => {
    const config = await channelConfig([{ type: "kafka", account: "stream", brokers: mock.brokers, topics: ["stream"], replyTopic: "stream-replies" }]);
    const env = { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_ACK_WAIT_MS: "3000" };
    const first = await startClaw({ env: { ...env, CLAW_NODE_ID: "k1" } });
    const p = kafka.producer();
    await p.connect();
    const replies = await collect(kafka, "stream-replies");
    try {
      // mid-stream: after 100 are produced, killed as soon as it has put some of them on claw.in
      // (claw_channel_messages_total counts a message once NATS holds it; joining the consumer group
      // takes the node seconds), with the rest of the stream still to come
      const taken = () => metric(first.httpPort, 'claw_channel_messages_total{channel="kafka",direction="in"}').catch(() => 0);
      for (let i = 0; i < 300; i++) {
        await p.send({ topic: "stream", messages: [{ key: `chat-${i % 10}`, value: `message ${i}` }] });
        if (i === 100) {
          for (const deadline = Date.now() + 30_000; (await taken()) === 0;) {
            if (Date.now() > deadline) throw new Error(`the first node took nothing from the stream in 30 s:\n${first.output().slice(-2000)}`);
            await new Promise((r) => setTimeout(r, 5));
          }
          await first.kill("SIGKILL");
        }
      }
      await using second = await startClaw({ env: { ...env, CLAW_NODE_ID: "k2" } });
      void second;
      // every message answered; a reply produced again after the kill carries the same id
      await replies.until(300, 60_000);
      await new Promise((r) => setTimeout(r, 1_000));
      const texts = replies.got.map((m) => JSON.parse(m.value!.toString()).text as string);
      expect(new Set(texts).size).toBe(300);
      const ids = new Set(replies.got.map((m) => m.headers?.["claw-message-id"]?.toString()));
      expect(ids.size).toBe(300);
      // one chat's replies in the order its messages were produced
      const chat3 = replies.got.filter((m) => m.key?.toString() === "chat-3").map((m) => Number(JSON.parse(m.value!.toString()).text.split(" ")[1]));
      expect([...new Set(chat3)]).toEqual([...new Set(chat3)].sort((a, b) => a - b));
    } finally {
      await first.kill("SIGKILL");
      await replies.stop();
      await p.disconnect();
    }
  }, 120_000);
});
