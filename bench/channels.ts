/**
 * The `amqp` and `mqtt` scenarios: an open loop of messages through a broker
 * the bench starts (its own RabbitMQ or Mosquitto, test/support/brokers.ts)
 * into a Claw node's channel account and back as replies, latency from the
 * scheduled send to the reply's arrival. The reference, in the same run, is
 * the broker alone: the same client publishing to a queue or topic that it
 * consumes itself — what the broker and its client cost without Claw.
 *   npm run bench -- amqp|mqtt [--rate 500] [--duration 20] [--sessions 100]
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import amqp from "amqplib";
import mqtt from "mqtt";
import { startMosquitto, startRabbitMq, type Broker } from "../test/support/brokers.js";
import { latencyRecorder, type Latencies } from "./closed-loop.js";
import { cpuSeconds, sample } from "./process-stats.js";
import { startClawTarget } from "./targets.js";
import { noDelay } from "../src/adapters/mqtt/index.js";

/** One open-loop run. */
export interface ChannelRow extends Latencies {
  target: string;
  sent: number;
  received: number;
  lost: number;
  duplicates: number;
  throughput: number;
  /** Claw: the node's and nats-server's CPU ms per message */
  cpuMsPerMessage?: number;
  natsCpuMsPerMessage?: number;
}

/** How a scenario sends one message and hears its answer. */
interface Wire {
  /** sends message `id` to chat `chat` */
  send(id: string, chat: string): void;
  /** the id each answer belongs to is reported here */
  onAnswer(cb: (id: string) => void): void;
  close(): Promise<void>;
}

async function openLoop(target: string, wire: Wire, rate: number, durationS: number, chats: number, graceS = 10): Promise<ChannelRow> {
  const latencies = latencyRecorder();
  const due = new Map<string, number>();
  const seen = new Set<string>();
  let duplicates = 0;
  wire.onAnswer((id) => {
    const at = due.get(id);
    if (at === undefined) return;
    if (seen.has(id)) return void duplicates++;
    seen.add(id);
    latencies.record(performance.now() - at);
  });
  const t0 = performance.now();
  const total = Math.round(rate * durationS);
  for (let i = 0; i < total; i++) {
    const at = t0 + (i * 1000) / rate;
    while (performance.now() < at) await new Promise((r) => setTimeout(r, 1));
    const id = `${target.replace(/\W/g, "")}-${i}`;
    due.set(id, at);
    wire.send(id, `c${i % chats}`);
  }
  const deadline = performance.now() + graceS * 1000;
  while (seen.size < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const seconds = (performance.now() - t0) / 1000;
  await wire.close();
  return {
    target,
    sent: total,
    received: seen.size,
    lost: total - seen.size,
    duplicates,
    throughput: Math.round(seen.size / Math.max(durationS, seconds - graceS)),
    ...latencies.summary(),
  };
}

async function amqpWire(url: string, queue: string, replies: string, viaClaw: boolean): Promise<Wire> {
  const conn = await amqp.connect(url);
  const pub = await conn.createConfirmChannel();
  const sub = await conn.createChannel();
  await pub.assertQueue(queue, { durable: true });
  await sub.assertQueue(replies, { durable: true });
  let answer: (id: string) => void = () => {};
  // the reference reads its own queue; Claw's answers carry the request's correlation id
  await sub.consume(viaClaw ? replies : queue, (m) => m && answer(String(m.properties.correlationId)), { noAck: true });
  return {
    send: (id, chat) =>
      void pub.sendToQueue(queue, Buffer.from(JSON.stringify({ text: `message ${id}` })), {
        persistent: true,
        correlationId: id,
        messageId: id,
        replyTo: replies,
        headers: { "claw-chat": chat },
      }),
    onAnswer: (cb) => (answer = cb),
    close: () => conn.close(),
  };
}

async function mqttWire(url: string, prefix: string, viaClaw: boolean): Promise<Wire> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `bench-${prefix}-${process.pid}` });
  // as the adapter does: without it every publish waits for the broker's delayed ACK
  noDelay(c);
  let answer: (id: string) => void = () => {};
  c.on("message", (_topic, payload, packet) => {
    if (viaClaw) {
      // a reply's replyTo is the message's envelope id: `mqtt:<account>:<message-id>`
      const replyTo = String((JSON.parse(payload.toString()) as { replyTo?: string }).replyTo ?? "");
      answer(replyTo.slice(replyTo.lastIndexOf(":") + 1));
    } else {
      const id = packet.properties?.userProperties?.["message-id"];
      answer(String(Array.isArray(id) ? id[0] : id));
    }
  });
  await c.subscribeAsync(viaClaw ? `${prefix}/+/reply` : `${prefix}/+`, { qos: 1 });
  return {
    send: (id, chat) =>
      void c.publishAsync(`${prefix}/${chat}`, JSON.stringify({ text: `message ${id}` }), { qos: 1, properties: { userProperties: { "message-id": id } } }),
    onAnswer: (cb) => (answer = cb),
    close: () => c.endAsync(),
  };
}

/** Runs `amqp` or `mqtt`: the broker alone, then through a Claw node, at `rate` msg/s for `durationS`. */
export async function runChannelBench(kind: "amqp" | "mqtt", rate: number, durationS: number, chats: number): Promise<ChannelRow[]> {
  const broker: Broker = kind === "amqp" ? await startRabbitMq() : await startMosquitto();
  try {
    process.stderr.write(`${kind}: the broker alone …\n`);
    const alone = await openLoop(
      `${kind} broker alone`,
      kind === "amqp" ? await amqpWire(broker.url, "bench-direct", "unused", false) : await mqttWire(broker.url, "direct", false),
      rate,
      durationS,
      chats,
    );
    const channel =
      kind === "amqp"
        ? { type: "amqp", account: "bench", url: broker.url, queue: "bench-in", prefetch: 256 }
        : { type: "mqtt", account: "bench", url: broker.url, subscribe: ["bench/+"] };
    const config = join(tmpdir(), `claw-bench-${kind}-${process.pid}.json`);
    await writeFile(config, JSON.stringify({ agents: [{ id: "echo" }], channels: [channel] }));
    const target = await startClawTarget(1, { CLAW_CONFIG: config, CLAW_SLOW_TURN_MS: "0" });
    try {
      // the account connects after the node has started
      await new Promise((r) => setTimeout(r, 2_000));
      process.stderr.write(`${kind}: through Claw …\n`);
      const pids = [target.workers[0]!.pid!, target.nats.pid!];
      const before = await Promise.all(pids.map(sample));
      const claw = await openLoop(
        `${kind} through claw`,
        kind === "amqp" ? await amqpWire(broker.url, "bench-in", "bench-replies", true) : await mqttWire(broker.url, "bench", true),
        rate,
        durationS,
        chats,
      );
      const after = await Promise.all(pids.map(sample));
      const per = (i: number) => Math.round(((cpuSeconds(before[i], after[i]) * 1000) / Math.max(1, claw.received)) * 1000) / 1000;
      return [alone, { ...claw, cpuMsPerMessage: per(0), natsCpuMsPerMessage: per(1) }];
    } finally {
      await target.stop();
    }
  } finally {
    await broker[Symbol.asyncDispose]();
  }
}
