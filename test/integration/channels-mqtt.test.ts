/**
 * The MQTT channel against a real Mosquitto (its own, on a free port), with
 * mosquitto_pub / mosquitto_sub as the other side, and mqtt.js where the test
 * needs MQTT 5 properties or bytes the CLI cannot send. Also: the account
 * moves to another node when its node is SIGKILLed.
 */
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { brokerMissing, startMosquitto, type Broker } from "../support/brokers.js";
import { skipWithout } from "../support/ci.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { runCli } from "../support/claw-cli.js";
import { client, natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { arrivals, channelConfig, untilRepliesAcked, type Arrivals } from "../support/channels.js";

const run = promisify(execFile);
const missing = brokerMissing("mosquitto");

type Received = { topic: string; body: any; packet: mqtt.IPublishPacket };

/** A persistent-session subscriber that keeps every message it gets. */
async function subscriber(url: string, filter: string, clientId: string): Promise<Arrivals<Received> & { close(): Promise<void> }> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 5, clean: false, clientId, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 200 });
  const a = arrivals<Received>(filter);
  c.on("message", (topic, payload, packet) => a.got.push({ topic, body: JSON.parse(payload.toString()), packet }));
  await c.subscribeAsync(filter, { qos: 1 });
  return { ...a, got: a.got, until: a.until, close: () => c.endAsync() };
}

/** Waits until one of `nodes` logs that it runs the account; resolves with it. */
async function owner(nodes: ClawProcess[], account: string, timeoutMs = 15_000): Promise<ClawProcess> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = nodes.find((n) => n.logs.some((l) => l.msg === "channel.connected" && l.account === account));
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no node connected ${account} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(skipWithout("channels-mqtt", missing))("the MQTT channel", () => {
  let mosquitto: Broker;
  let nats: NatsServerProcess;
  beforeAll(async () => {
    [mosquitto, nats] = await Promise.all([startMosquitto(), natsServer()]);
  }, 60_000);
  afterAll(async () => {
    await mosquitto?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  }, 60_000);

  it("answers mosquitto_pub on <topic>/reply and on an MQTT 5 response topic, and dead-letters a malformed payload", async () => {
    const config = await channelConfig([{ type: "mqtt", account: "iot", url: mosquitto.url, subscribe: ["sensors/+"] }]);
    await using node = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_NODE_ID: "m" } });
    await owner([node], "iot");
    const port = String(mosquitto.port);
    // the broker's own tools on both sides
    const sub = spawn("mosquitto_sub", ["-h", "127.0.0.1", "-p", port, "-t", "sensors/42/reply", "-C", "1", "-W", "30"]);
    let out = "";
    sub.stdout.on("data", (b: Buffer) => (out += b.toString()));
    await new Promise((r) => setTimeout(r, 300)); // subscribed
    await run("mosquitto_pub", ["-h", "127.0.0.1", "-p", port, "-q", "1", "-t", "sensors/42", "-m", "temperature?"]);
    await new Promise((r) => sub.once("exit", r));
    expect(JSON.parse(out)).toMatchObject({ text: "temperature?", kind: "reply", chat: "sensors/42" });

    // MQTT 5: the response topic and the correlation data are honoured
    const answers = await subscriber(mosquitto.url, "answers/#", "test-answers");
    await run("mosquitto_pub", [
      "-h",
      "127.0.0.1",
      "-p",
      port,
      "-V",
      "mqttv5",
      "-q",
      "1",
      "-t",
      "sensors/7",
      "-D",
      "publish",
      "response-topic",
      "answers/7",
      "-D",
      "publish",
      "correlation-data",
      "req-7",
      "-m",
      '{"text":"hi","sender":"dev-7"}',
    ]);
    await answers.until(1);
    expect(answers.got[0]!.topic).toBe("answers/7");
    expect(answers.got[0]!.body).toMatchObject({ text: "hi", chat: "sensors/7" });
    expect(Buffer.from(answers.got[0]!.packet.properties!.correlationData!).toString()).toBe("req-7");

    // malformed: bytes that are not UTF-8 go to the dead letters as they were; the next message is answered
    const pub = await mqtt.connectAsync(mosquitto.url, { protocolVersion: 5 });
    const bad = Buffer.from([0xc3, 0x28, 0xff]);
    await pub.publishAsync("sensors/9", bad, { qos: 1 });
    await using c = await client(nats.url);
    const dead = await waitForDeadLetters(c.jsm, (all) => all.some((d) => d.stage === "adapter"));
    const letter = dead.find((d) => d.stage === "adapter")!;
    expect(letter).toMatchObject({ code: "invalid_payload", originalSubject: "claw.in.mqtt.iot.sensors=2F9" });
    expect(Buffer.from(letter.data)).toEqual(bad);
    await pub.publishAsync("sensors/7", "after the bad one", { qos: 1, properties: { responseTopic: "answers/7" } });
    await answers.until(2);
    expect(answers.got[1]!.body.text).toBe("after the bad one");
    await pub.endAsync();
    await answers.close();
  }, 60_000);

  it("loses nothing while the broker restarts (persistent sessions on both sides)", async () => {
    const config = await channelConfig([{ type: "mqtt", account: "load", url: mosquitto.url, subscribe: ["load/+"] }]);
    await using node = await startClaw({
      env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_NODE_ID: "l", CLAW_RETRY_BASE_MS: "100", CLAW_RETRY_MAX_MS: "1000" },
    });
    await owner([node], "load");
    const replies = await subscriber(mosquitto.url, "load/+/reply", "test-load-replies");
    const publish = async (from: number, to: number) => {
      const pub = await mqtt.connectAsync(mosquitto.url, { protocolVersion: 5, clientId: `test-load-pub-${from}` });
      // a message-id: a message the broker sends again (its PUBACK lost in the restart) is absorbed
      await Promise.all(
        Array.from({ length: to - from }, (_, k) =>
          pub.publishAsync(`load/${(from + k) % 10}`, `message ${from + k}`, { qos: 1, properties: { userProperties: { "message-id": `load-${from + k}` } } }),
        ),
      );
      await pub.endAsync();
    };
    await publish(0, 100);
    await mosquitto.stop();
    await mosquitto.start();
    await publish(100, 200);
    const distinct = () => new Set(replies.got.map((m) => m.body.text as string)).size;
    const deadline = Date.now() + 60_000;
    while (distinct() < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(distinct(), node.output().slice(-3000)).toBe(200);
    // QoS 1 is at least once: a reply whose PUBACK the restart lost is sent again, with the same message-id to drop it by
    const idsByText = new Map<string, Set<string>>();
    for (const m of replies.got)
      idsByText.set(m.body.text, (idsByText.get(m.body.text) ?? new Set()).add(String(m.packet.properties?.userProperties?.["message-id"])));
    expect([...idsByText.values()].every((ids) => ids.size === 1)).toBe(true);
    await replies.close();
    await node.waitForLogs((l) => l.msg === "channel.lost" && l.account === "load", 1, 10_000);
  }, 120_000);

  it("moves the account to another node when its node is SIGKILLed", async () => {
    const config = await channelConfig([{ type: "mqtt", account: "moving", url: mosquitto.url, subscribe: ["moving/+"] }]);
    await using a = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_NODE_ID: "ma" } });
    await using b = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_NODE_ID: "mb" } });
    const first = await owner([a, b], "moving");
    const other = first === a ? b : a;
    const [firstId, otherId] = first === a ? ["ma", "mb"] : ["mb", "ma"];
    // any node tells who runs the account, and in what state
    const listed = (await (await fetch(`http://127.0.0.1:${other.httpPort}/v1/channels`)).json()) as { channels: unknown[] };
    expect(listed.channels).toEqual([expect.objectContaining({ type: "mqtt", account: "moving", owner: firstId, state: "connected", nodes: ["ma", "mb"] })]);
    const replies = await subscriber(mosquitto.url, "moving/+/reply", "test-moving-replies");
    const pub = await mqtt.connectAsync(mosquitto.url, { protocolVersion: 5 });
    await pub.publishAsync("moving/1", "before", { qos: 1 });
    await replies.until(1);
    // its node acks the reply a moment after it is sent; killed between the two, the next node would send it again
    await untilRepliesAcked(nats.url, "mqtt", "moving");
    await first.kill("SIGKILL");
    // sent while nobody runs the account: the persistent session keeps it for the next owner
    await pub.publishAsync("moving/1", "after", { qos: 1 });
    await owner([other], "moving");
    await replies.until(2, 20_000);
    const cli = await runCli(["channels"], { NATS_URL: nats.url });
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(new RegExp(`mqtt\\s+moving\\s+connected\\s+${otherId}\\b`));
    expect(replies.got.map((m) => m.body.text)).toEqual(["before", "after"]);
    await pub.endAsync();
    await replies.close();
  }, 60_000);
});
