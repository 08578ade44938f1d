/**
 * The AMQP channel against a real RabbitMQ (its own node on free ports,
 * started by the test), with RabbitMQ's own CLI tools as the other side
 * where they can say what the test needs (amqp-publish / amqp-consume), and
 * amqplib where they cannot (correlation and message ids).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import amqp, { type ChannelModel, type ConsumeMessage } from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { brokerMissing, startRabbitMq, type Broker } from "../support/brokers.js";
import { skipWithout } from "../support/ci.js";
import { metric } from "../support/metrics.js";
import { startClaw } from "../support/claw-node.js";
import { client, natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { arrivals, channelConfig, type Arrivals } from "../support/channels.js";
import { until } from "../support/until.js";

const run = promisify(execFile);
const missing = brokerMissing("rabbitmq");

/** Every message arriving on `queue`, kept as it came. */
async function collect(conn: ChannelModel, queue: string): Promise<Arrivals<ConsumeMessage>> {
  const ch = await conn.createChannel();
  await ch.assertQueue(queue, { durable: true });
  const a = arrivals<ConsumeMessage>(queue);
  await ch.consume(queue, (m) => m && a.got.push(m), { noAck: true });
  return a;
}

describe.skipIf(skipWithout("channels-amqp", missing))("the AMQP channel", () => {
  let rabbit: Broker;
  let nats: NatsServerProcess;
  beforeAll(async () => {
    [rabbit, nats] = await Promise.all([startRabbitMq(), natsServer()]);
  }, 90_000);
  afterAll(async () => {
    await rabbit?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  }, 60_000);

  it("answers amqp-publish on reply_to, keeps correlation ids, absorbs a repeated message_id, and dead-letters a malformed payload", async () => {
    const config = await channelConfig([{ type: "amqp", account: "shop", urlEnv: "SHOP_AMQP_URL", queue: "claw-in" }]);
    await using node = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, SHOP_AMQP_URL: rabbit.url, CLAW_NODE_ID: "a" } });
    const conn = await amqp.connect(rabbit.url);
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue("claw-in", { durable: true });
      // the broker's own tools: a message with reply_to and a chat header, the reply read by amqp-consume
      await ch.assertQueue("replies-cli", { durable: true });
      await run("amqp-publish", ["-u", rabbit.url, "-r", "claw-in", "-t", "replies-cli", "-H", "claw-chat: order-7", "-b", "where is my parcel?"]);
      const { stdout } = await run("amqp-consume", ["-u", rabbit.url, "-q", "replies-cli", "-c", "1", "cat"], { timeout: 30_000 });
      const reply = JSON.parse(stdout) as { text: string; kind: string; chat: string; replyTo: string; metadata: Record<string, unknown> };
      expect(reply).toMatchObject({ text: "where is my parcel?", kind: "reply", chat: "order-7" });
      expect(reply.metadata).not.toHaveProperty("native");
      // the URL (with its password) came from the environment and is never logged
      expect(node.output()).not.toContain(rabbit.url);

      // correlation ids come back; the same message_id twice is one message
      const replies = await collect(conn, "replies-lib");
      const send = (body: string, correlationId: string, messageId?: string) =>
        ch.sendToQueue("claw-in", Buffer.from(body), { replyTo: "replies-lib", correlationId, messageId, persistent: true });
      send(JSON.stringify({ text: "first", sender: { id: "u1", name: "Ann" } }), "c-1", "m-1");
      send(JSON.stringify({ text: "first" }), "c-1-again", "m-1");
      send("second", "c-2", "m-2");
      await replies.until(2);
      await new Promise((r) => setTimeout(r, 1_000)); // time enough for a duplicate to show
      expect(replies.got.map((m) => [m.properties.correlationId, JSON.parse(m.content.toString()).text])).toEqual([
        ["c-1", "first"],
        ["c-2", "second"],
      ]);
      // the chat is reply_to without a claw-chat header
      expect(JSON.parse(replies.got[0]!.content.toString())).toMatchObject({ chat: "replies-lib" });

      // malformed: not UTF-8, and JSON whose text is not a string; the bytes are kept
      const bad = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
      ch.sendToQueue("claw-in", bad, { replyTo: "replies-lib", persistent: true });
      ch.sendToQueue("claw-in", Buffer.from('{"text": 5}'), { replyTo: "replies-lib", persistent: true });
      await using c = await client(nats.url);
      const dead = await waitForDeadLetters(c.jsm, (all) => all.filter((d) => d.stage === "adapter").length >= 2);
      const adapter = dead.filter((d) => d.stage === "adapter");
      expect(adapter.map((d) => [d.code, d.reason])).toEqual([
        ["invalid_payload", "the payload is neither UTF-8 text nor JSON"],
        ["invalid_payload", "text: must be a string"],
      ]);
      expect(Buffer.from(adapter[0]!.data)).toEqual(bad);
      expect(adapter[0]!.originalSubject).toBe("claw.in.amqp.shop.replies-lib");
      // and the next message is answered
      send("still here", "c-3");
      await replies.until(3);
      expect(replies.got[2]!.properties.correlationId).toBe("c-3");
      // a reply with no route (no reply_to, no replyExchange) is dead-lettered with the reason
      ch.sendToQueue("claw-in", Buffer.from("nowhere"), { persistent: true });
      const out = await waitForDeadLetters(c.jsm, (all) => all.some((d) => d.stage === "out"));
      expect(out.find((d) => d.stage === "out")).toMatchObject({ code: "no_route" });
    } finally {
      await conn.close();
    }
  }, 90_000);

  it("loses nothing while the broker restarts, and the node keeps serving HTTP meanwhile", async () => {
    // a small prefetch: the node takes the queue a few at a time, so the broker can stop with some still in it
    const config = await channelConfig([{ type: "amqp", account: "restart", url: rabbit.url, queue: "claw-restart", prefetch: 2 }]);
    await using node = await startClaw({
      env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_NODE_ID: "r", CLAW_RETRY_BASE_MS: "100", CLAW_RETRY_MAX_MS: "1000" },
    });
    const publish = async (from: number, to: number) => {
      const conn = await amqp.connect(rabbit.url);
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue("claw-restart", { durable: true });
      await ch.assertQueue("replies-restart", { durable: true });
      for (let i = from; i < to; i++)
        ch.sendToQueue("claw-restart", Buffer.from(`message ${i}`), {
          replyTo: "replies-restart",
          correlationId: `r-${i}`,
          messageId: `r-${i}`,
          persistent: true,
        });
      await ch.waitForConfirms();
      await conn.close();
    };
    await publish(0, 100);
    // mid-stream: the broker stops once the node has taken some (claw_channel_messages_total counts a message
    // when NATS holds it), while others still wait in the queue or for their replies
    const taken = () => metric(node.httpPort, 'claw_channel_messages_total{channel="amqp",direction="in"}').catch(() => 0);
    for (const deadline = Date.now() + 15_000; (await taken()) === 0;) {
      if (Date.now() > deadline) throw new Error("the node took nothing from the queue in 15 s");
      await new Promise((r) => setTimeout(r, 5));
    }
    await rabbit.stop();
    const atStop = {
      taken: await taken(),
      answered: await metric(node.httpPort, 'claw_channel_messages_total{channel="amqp",direction="out"}').catch(() => 0),
    };
    expect(atStop.taken, `messages still in the queue when the broker stopped (${JSON.stringify(atStop)})`).toBeLessThan(100);
    expect(atStop.answered, `replies still owed when the broker stopped (${JSON.stringify(atStop)})`).toBeLessThan(atStop.taken);
    const invoke = await fetch(`http://127.0.0.1:${node.httpPort}/v1/agents/echo/invoke`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "the broker is down" }),
    });
    expect(invoke.status).toBe(200);
    await rabbit.start();
    await publish(100, 200);
    const conn = await amqp.connect(rabbit.url);
    try {
      const replies = await collect(conn, "replies-restart");
      // a reply to each message, told apart by its correlation id: one sent again (below) may come before another's first
      const answered = () => new Set(replies.got.map((m) => String(m.properties.correlationId)));
      await until(() => answered().size === 200, "a reply to each of the 200 messages", 60_000);
      // a reply the broker took but could not confirm before it stopped is sent again, with its message_id
      const byMessageId = new Map(replies.got.map((m) => [String(m.properties.messageId), m]));
      expect(byMessageId.size).toBe(200);
      await node.waitForLogs((l) => l.msg === "channel.lost" && l.account === "restart");
    } finally {
      await conn.close();
    }
  }, 120_000);
});
