/**
 * The WhatsApp channel driven through a fake socket that implements the part
 * of baileys' socket the adapter uses (its event emitter, sendMessage,
 * requestPairingCode, end), with a real node answering the turns and the
 * account's runner in this process: a QR code announced for pairing, the
 * auth state kept in KV (a second connection starts from the credentials the
 * first saved), a message answered, our own and group messages left alone,
 * a lost connection reconnected, a logout clearing the credentials, a 429
 * sent again and a 400 dead-lettered, the QR code in the live view, and a
 * reply's media sent by URL.
 */
import { EventEmitter } from "node:events";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/until.js";
import { createChannelRunner, parseChannels } from "../../src/adapters/index.js";
import { createWhatsAppAdapter, type WhatsAppSocket } from "../../src/adapters/whatsapp/index.js";
import { BUCKETS, channelEventSubject, connectBus, defaultConsumerOptions, type Bus } from "../../src/bus/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { runCli } from "../support/claw-cli.js";
import { publishReply } from "../support/channels.js";

/** The live view's event stream for one actor, with the `pairing` events it carried. */
async function liveView(port: number, channelActor: string): Promise<{ pairing: Array<Record<string, unknown>>; close(): void }> {
  const stop = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}/ui/events?kind=channel&id=${channelActor}`, { signal: stop.signal });
  const pairing: Array<Record<string, unknown>> = [];
  let hello!: () => void;
  const ready = new Promise<void>((r) => (hello = r));
  void (async () => {
    let buffer = "";
    try {
      for await (const chunk of res.body! as unknown as AsyncIterable<Uint8Array>) {
        buffer += Buffer.from(chunk).toString("utf8");
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event === "hello") hello();
          if (event === "pairing" && data) pairing.push(JSON.parse(data) as Record<string, unknown>);
        }
      }
    } catch {
      // closed
    }
  })();
  await ready;
  return { pairing, close: () => stop.abort() };
}

/** What the fake socket saw and can do. */
interface FakeSocket {
  config: { auth: { creds: Record<string, any> } };
  ev: EventEmitter;
  sent: Array<{ jid: string; text: string }>;
  /** what was sent that is not text (media), as baileys' message content */
  media: Array<{ jid: string; content: Record<string, unknown> }>;
  failNext: Array<Error & { output: { statusCode: number } }>;
  ended: boolean;
}

function boom(statusCode: number, message: string): Error & { output: { statusCode: number } } {
  return Object.assign(new Error(message), { output: { statusCode } });
}


const text = (jid: string, id: string, body: string, o: { fromMe?: boolean; participant?: string } = {}) => ({
  key: { remoteJid: jid, id, fromMe: o.fromMe ?? false, ...(o.participant ? { participant: o.participant } : {}) },
  pushName: "Dana",
  message: { conversation: body },
});

describe("the WhatsApp channel", () => {
  let nats: NatsServerProcess;
  let node: ClawProcess;
  let bus: Bus;
  beforeAll(async () => {
    nats = await natsServer();
    // the node makes the streams and answers the turns; the account runs here, on the fake socket
    node = await startClaw({ env: { NATS_URL: nats.url, CLAW_NODE_ID: "w" } });
    bus = await connectBus({ servers: [nats.url], name: "test" });
  }, 60_000);
  afterAll(async () => {
    await bus?.close();
    await node?.kill("SIGKILL");
    await nats?.[Symbol.asyncDispose]();
  });

  it("pairs by QR with its auth state in KV, answers a direct message, reconnects, and handles refusals", async () => {
    const sockets: FakeSocket[] = [];
    const adapter = createWhatsAppAdapter((config) => {
      const s: FakeSocket = { config: config as unknown as FakeSocket["config"], ev: new EventEmitter(), sent: [], media: [], failNext: [], ended: false };
      sockets.push(s);
      return {
        ev: s.ev as unknown as WhatsAppSocket["ev"],
        sendMessage: (async (jid: string, content: { text?: string }) => {
          const f = s.failNext.shift();
          if (f) throw f;
          if (content.text !== undefined) s.sent.push({ jid, text: content.text });
          else s.media.push({ jid, content });
          return undefined;
        }) as unknown as WhatsAppSocket["sendMessage"],
        requestPairingCode: (async () => "ABCD1234") as WhatsAppSocket["requestPairingCode"],
        end: () => void (s.ended = true),
      };
    });
    const [config] = parseChannels([{ type: "whatsapp", account: "phone" }], {});
    const qrs: string[] = [];
    const sub = bus.nc.subscribe(channelEventSubject("whatsapp", "phone", "qr"), { callback: (_e, m) => qrs.push((m.json() as { qr: string }).qr) });
    const state = await bus.kvm.open(BUCKETS.channels);
    const runner = createChannelRunner({
      bus,
      adapter: adapter as never,
      options: config!.options,
      nodeId: "test",
      log: pino({ level: "silent" }),
      backoff: { baseMs: 50, factor: 2, maxMs: 200 },
      consumer: { ...defaultConsumerOptions(), ackWaitMs: 5_000 },
      maxPayload: 1 << 20,
      state,
    });
    runner.start();
    try {
      await until(() => sockets.length === 1, "the socket");
      const first = sockets[0]!;
      // not paired yet: a QR code, which `claw channels pair whatsapp phone` prints until the device is linked
      let printed = "";
      const pairing = runCli(["channels", "pair", "whatsapp", "phone", "--timeout", "30"], { NATS_URL: nats.url }, 40_000, (text) => (printed = text));
      // and the live view, watching the account, shows it
      const view = await liveView(node.httpPort, "whatsapp-phone");
      // baileys hands a new QR code now and then; here until the CLI (a process still starting) has shown one
      const deadline = Date.now() + 20_000;
      while (!printed.includes("scan with WhatsApp") && Date.now() < deadline) {
        first.ev.emit("connection.update", { qr: "2@qr-data" });
        await new Promise((r) => setTimeout(r, 250));
      }
      await until(() => qrs.length >= 1, "the QR announced");
      expect(new Set(qrs)).toEqual(new Set(["2@qr-data"]));
      await until(() => view.pairing.length >= 1, "the QR in the live view");
      expect(view.pairing[0]).toMatchObject({ event: "qr", type: "whatsapp", account: "phone", node: "test", svg: expect.stringMatching(/^<svg[^]*<path[^]*<\/svg>\s*$/) });
      await until(() => runner.status().state === "connected", "connected");
      // paired: baileys updates the credentials; they go to KV
      first.config.auth.creds.me = { id: "4915112345678:1@s.whatsapp.net" };
      first.config.auth.creds.registered = true;
      first.ev.emit("creds.update", {});
      first.ev.emit("connection.update", { connection: "open" });
      const paired = await pairing;
      expect(paired.code, `${paired.stdout}\n${paired.stderr}`).toBe(0);
      expect(paired.stdout).toContain("scan with WhatsApp");
      expect(paired.stdout).toMatch(/[▀▄█]/); // the QR code itself, drawn in the terminal
      expect(paired.stdout).toContain("whatsapp account phone is linked and connected");
      await until(() => view.pairing.some((p) => p.event === "open"), "linked, in the live view");
      view.close();

      first.ev.emit("messages.upsert", { type: "notify", messages: [text("4917000000001@s.whatsapp.net", "W1", "hello from whatsapp")] });
      // ours, a group's, and history are not taken
      first.ev.emit("messages.upsert", { type: "notify", messages: [text("4917000000001@s.whatsapp.net", "W2", "my own", { fromMe: true }), text("123-456@g.us", "W3", "group chatter", { participant: "4917000000002@s.whatsapp.net" })] });
      first.ev.emit("messages.upsert", { type: "append", messages: [text("4917000000001@s.whatsapp.net", "W4", "old history")] });
      await until(() => first.sent.length === 1, "the reply");
      expect(first.sent[0]).toEqual({ jid: "4917000000001@s.whatsapp.net", text: "hello from whatsapp" });

      // the connection drops: a new socket, starting from the credentials the first saved in KV
      first.ev.emit("connection.update", { connection: "close", lastDisconnect: { error: boom(428, "Connection Closed"), date: new Date() } });
      await until(() => sockets.length === 2, "a new socket");
      const second = sockets[1]!;
      expect(second.config.auth.creds.me).toEqual({ id: "4915112345678:1@s.whatsapp.net" });
      second.ev.emit("connection.update", { connection: "open" });
      await until(() => runner.status().state === "connected", "connected again");

      // a reply's media, by URL: one image with the text as its caption; several after the text
      await publishReply(nats.url, "whatsapp", "phone", "4917000000001@s.whatsapp.net", { text: "the chart", media: [{ type: "image", url: "https://example.com/chart.png" }] });
      await until(() => second.media.length === 1, "the image");
      expect(second.media[0]).toEqual({ jid: "4917000000001@s.whatsapp.net", content: { image: { url: "https://example.com/chart.png" }, caption: "the chart" } });
      await publishReply(nats.url, "whatsapp", "phone", "4917000000001@s.whatsapp.net", { text: "files", media: [{ type: "file", url: "https://example.com/r.pdf", name: "r.pdf", mime: "application/pdf" }, { type: "audio", url: "https://example.com/v.ogg" }] });
      await until(() => second.media.length === 3, "the file and the audio");
      expect(second.sent.at(-1)).toEqual({ jid: "4917000000001@s.whatsapp.net", text: "files" });
      expect(second.media.slice(1).map((m) => m.content)).toEqual([
        { document: { url: "https://example.com/r.pdf" }, mimetype: "application/pdf", fileName: "r.pdf" },
        { audio: { url: "https://example.com/v.ogg" }, mimetype: "audio/mpeg" },
      ]);

      // a 429 is sent again; a 400 is dead-lettered
      second.failNext.push(boom(429, "rate-overlimit"));
      second.ev.emit("messages.upsert", { type: "notify", messages: [text("4917000000001@s.whatsapp.net", "W5", "busy?")] });
      await until(() => second.sent.some((m) => m.text === "busy?"), "the reply after the 429", 20_000);
      second.failNext.push(boom(400, "bad-request"));
      second.ev.emit("messages.upsert", { type: "notify", messages: [text("4917000000009@s.whatsapp.net", "W6", "to nowhere")] });
      const dead = await waitForDeadLetters(bus.jsm, (all) => all.some((d) => d.stage === "out" && d.code === "whatsapp_400"));
      expect(dead.find((d) => d.code === "whatsapp_400")!.reason).toMatch(/bad-request/);

      // WhatsApp logs the device out: the credentials go, and the next connection pairs anew
      second.ev.emit("connection.update", { connection: "close", lastDisconnect: { error: boom(401, "logged out"), date: new Date() } });
      await until(() => sockets.length === 3, "the socket after the logout");
      expect(sockets[2]!.config.auth.creds.me).toBeUndefined();
      expect(sockets[2]!.config.auth.creds.registered).toBe(false);
    } finally {
      sub.unsubscribe();
      await runner.stop();
    }
  }, 60_000);
});
