/**
 * The WhatsApp channel driven through a fake socket that implements the part
 * of baileys' socket the adapter uses (its event emitter, sendMessage,
 * requestPairingCode, end), with a real node answering the turns and the
 * account's runner in this process: a QR code announced for pairing, or a
 * pairing code for an account with a phone number; the auth state kept in KV
 * — the binary credentials and the Signal keys, through baileys' own Signal
 * repository: a peer's session made on one connection decrypts on the next
 * (a second connection starts from what the first saved); a message
 * answered, our own, a group's and history left alone, a lost connection
 * reconnected, a logout clearing the credentials, a 429 sent again and a 400
 * dead-lettered, the QR code in the live view, and a reply's media sent by
 * URL.
 *
 * The runner runs here, not in a node: a node makes baileys' real socket,
 * which only talks to WhatsApp's servers (it checks their Noise certificate
 * against WhatsApp's root key), so a node could run it against a fake only
 * through a test hook that swaps the socket in the node process.
 */
import { EventEmitter } from "node:events";
import type { AuthenticationCreds, AuthenticationState, SignalKeyStore } from "baileys";
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
  config: { auth: AuthenticationState & { creds: AuthenticationCreds & Record<string, any> } };
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

const OUR_JID = "4915112345678@s.whatsapp.net";
const PEER_JID = "4917000000001@s.whatsapp.net";

/** baileys' Signal repository over an auth state, its key store made transactional as makeWASocket does. */
async function signalRepository(auth: AuthenticationState) {
  const b = await import("baileys");
  const logger = pino({ level: "silent" }) as never;
  const keys = b.addTransactionCapability(auth.keys, logger, { maxCommitRetries: 1, delayBetweenTriesMs: 10 });
  return b.DEFAULT_CONNECTION_CONFIG.makeSignalRepository({ creds: auth.creds, keys }, logger, async () => undefined);
}

/**
 * Another WhatsApp user (its own keys in memory) who starts a Signal session
 * with us: `ours` gets a pre-key as baileys makes them (into its key store),
 * the peer builds the session from our published keys and encrypts a first
 * message; `receivedBy` decrypts it with an auth state read back later, and
 * answers it to check the session works both ways.
 */
async function signalPeer(ours: AuthenticationState): Promise<{ receivedBy(auth: AuthenticationState): Promise<string> }> {
  const b = await import("baileys");
  const { update, preKeys } = await b.getNextPreKeys(ours, 1);
  Object.assign(ours.creds, update);
  // baileys reads the pre-keys it made back from the key store
  expect(Object.keys(preKeys), "the pre-key baileys made, read back from the key store").toHaveLength(1);
  const [preKeyId, preKey] = Object.entries(preKeys)[0]!;
  const memory = new Map<string, unknown>();
  const peerKeys: SignalKeyStore = {
    get: async (type, ids) => Object.fromEntries(ids.flatMap((id) => (memory.has(`${type}-${id}`) ? [[id, memory.get(`${type}-${id}`)]] : []))) as never,
    set: async (data) => {
      for (const [type, byId] of Object.entries(data)) for (const [id, v] of Object.entries(byId ?? {})) memory.set(`${type}-${id}`, v);
    },
  };
  const peer = await signalRepository({ creds: b.initAuthCreds(), keys: peerKeys });
  const c = ours.creds;
  await peer.injectE2ESession({
    jid: OUR_JID,
    session: {
      registrationId: c.registrationId,
      identityKey: b.generateSignalPubKey(c.signedIdentityKey.public),
      signedPreKey: { keyId: c.signedPreKey.keyId, publicKey: b.generateSignalPubKey(c.signedPreKey.keyPair.public), signature: c.signedPreKey.signature },
      preKey: { keyId: Number(preKeyId), publicKey: b.generateSignalPubKey(preKey.public) },
    },
  });
  const first = await peer.encryptMessage({ jid: OUR_JID, data: Buffer.from("hello over signal") });
  expect(first.type).toBe("pkmsg");
  return {
    async receivedBy(auth) {
      const us = await signalRepository(auth);
      const plain = Buffer.from(await us.decryptMessage({ jid: PEER_JID, type: first.type, ciphertext: first.ciphertext })).toString("utf8");
      // the session is in the key store now (a repository of its own reads it), and answers reach the peer
      expect(await (await signalRepository(auth)).validateSession(PEER_JID)).toMatchObject({ exists: true });
      const answer = await us.encryptMessage({ jid: PEER_JID, data: Buffer.from("hello back") });
      expect(Buffer.from(await peer.decryptMessage({ jid: OUR_JID, type: answer.type, ciphertext: answer.ciphertext })).toString("utf8")).toBe("hello back");
      return plain;
    },
  };
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

  /** Runs account `account` here on fake sockets (each connection makes one), its options `extra`. */
  async function runAccount(account: string, extra: Record<string, unknown> = {}) {
    const sockets: FakeSocket[] = [];
    /** the phone numbers a pairing code was asked for */
    const codesAsked: string[] = [];
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
        requestPairingCode: (async (phone: string) => {
          codesAsked.push(phone);
          return "ABCD1234";
        }) as WhatsAppSocket["requestPairingCode"],
        end: () => void (s.ended = true),
      };
    });
    const [config] = parseChannels([{ type: "whatsapp", account, ...extra }], {});
    const state = await bus.kvm.open(BUCKETS.channels);
    const runner = createChannelRunner({
      bus,
      adapter,
      options: config!.options,
      nodeId: "test",
      log: pino({ level: "silent" }),
      backoff: { baseMs: 50, factor: 2, maxMs: 200 },
      consumer: { ...defaultConsumerOptions(), ackWaitMs: 5_000 },
      maxPayload: 1 << 20,
      state,
    });
    runner.start();
    return { sockets, codesAsked, runner };
  }

  it("pairs by QR with its auth state in KV, answers a direct message, reconnects, and handles refusals", async () => {
    const qrs: string[] = [];
    const sub = bus.nc.subscribe(channelEventSubject("whatsapp", "phone", "qr"), { callback: (_e, m) => qrs.push((m.json() as { qr: string }).qr) });
    const { sockets, runner } = await runAccount("phone");
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
      expect(view.pairing[0]).toMatchObject({
        event: "qr",
        type: "whatsapp",
        account: "phone",
        node: "test",
        svg: expect.stringMatching(/^<svg[^]*<path[^]*<\/svg>\s*$/),
      });
      await until(() => runner.status().state === "connected", "connected");
      // paired: baileys updates the credentials and makes pre-keys (into the key store, KV); they go to KV
      first.config.auth.creds.me = { id: "4915112345678:1@s.whatsapp.net" };
      first.config.auth.creds.registered = true;
      const peer = await signalPeer(first.config.auth);
      first.ev.emit("creds.update", {});
      first.ev.emit("connection.update", { connection: "open" });
      const paired = await pairing;
      expect(paired.code, `${paired.stdout}\n${paired.stderr}`).toBe(0);
      expect(paired.stdout).toContain("scan with WhatsApp");
      expect(paired.stdout).toMatch(/[▀▄█]/); // the QR code itself, drawn in the terminal
      expect(paired.stdout).toContain("whatsapp account phone is linked and connected");
      await until(() => view.pairing.some((p) => p.event === "open"), "linked, in the live view");
      view.close();

      // ours, a group's, and history are not taken: they come first (ours and history in the chat of the
      // message after them, whose reply would follow theirs), and nothing but that message is answered
      first.ev.emit("messages.upsert", {
        type: "notify",
        messages: [
          text("4917000000001@s.whatsapp.net", "W2", "my own", { fromMe: true }),
          text("123-456@g.us", "W3", "group chatter", { participant: "4917000000002@s.whatsapp.net" }),
        ],
      });
      first.ev.emit("messages.upsert", { type: "append", messages: [text("4917000000001@s.whatsapp.net", "W4", "old history")] });
      first.ev.emit("messages.upsert", { type: "notify", messages: [text("4917000000001@s.whatsapp.net", "W1", "hello from whatsapp")] });
      await until(() => first.sent.length >= 1, "the reply");
      await new Promise((r) => setTimeout(r, 1_500));
      expect(first.sent).toEqual([{ jid: "4917000000001@s.whatsapp.net", text: "hello from whatsapp" }]);

      // the connection drops: a new socket, starting from the credentials the first saved in KV
      first.ev.emit("connection.update", { connection: "close", lastDisconnect: { error: boom(428, "Connection Closed"), date: new Date() } });
      await until(() => sockets.length === 2, "a new socket");
      const second = sockets[1]!;
      expect(second.config.auth.creds.me).toEqual({ id: "4915112345678:1@s.whatsapp.net" });
      // the binary credentials come back as bytes, the same bytes
      const [was, is] = [first.config.auth.creds, second.config.auth.creds];
      for (const field of ["noiseKey", "pairingEphemeralKeyPair", "signedIdentityKey"] as const) {
        for (const half of ["public", "private"] as const) {
          expect(Buffer.isBuffer(is[field][half]), `${field}.${half} is bytes`).toBe(true);
          expect(Buffer.compare(is[field][half], was[field][half]), `${field}.${half}`).toBe(0);
        }
      }
      expect(Buffer.compare(is.signedPreKey.signature, was.signedPreKey.signature)).toBe(0);
      expect(is.registrationId).toBe(was.registrationId);
      // and the Signal keys: the peer's first message, encrypted to the pre-key the first connection stored,
      // decrypts with what the second read back from KV; the session it makes is kept there for the answer
      expect(await peer.receivedBy(second.config.auth)).toBe("hello over signal");
      second.ev.emit("connection.update", { connection: "open" });
      await until(() => runner.status().state === "connected", "connected again");

      // a reply's media, by URL: one image with the text as its caption; several after the text
      await publishReply(nats.url, "whatsapp", "phone", "4917000000001@s.whatsapp.net", {
        text: "the chart",
        media: [{ type: "image", url: "https://example.com/chart.png" }],
      });
      await until(() => second.media.length === 1, "the image");
      expect(second.media[0]).toEqual({
        jid: "4917000000001@s.whatsapp.net",
        content: { image: { url: "https://example.com/chart.png" }, caption: "the chart" },
      });
      await publishReply(nats.url, "whatsapp", "phone", "4917000000001@s.whatsapp.net", {
        text: "files",
        media: [
          { type: "file", url: "https://example.com/r.pdf", name: "r.pdf", mime: "application/pdf" },
          { type: "audio", url: "https://example.com/v.ogg" },
        ],
      });
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

  it("pairs an account with a phone number by a code typed on the phone, asked once per connection, and shows no QR code", async () => {
    const announced = { qr: [] as string[], code: [] as string[] };
    const subs = (["qr", "pairing-code"] as const).map((event) =>
      bus.nc.subscribe(channelEventSubject("whatsapp", "by-code", event), {
        callback: (_e, m) => void announced[event === "qr" ? "qr" : "code"].push(JSON.stringify(m.json())),
      }),
    );
    const { sockets, codesAsked, runner } = await runAccount("by-code", { phone: "4915112345678" });
    try {
      await until(() => sockets.length === 1, "the socket");
      // baileys hands QR codes until the device is linked: the first is when a code is asked for, once
      for (let i = 0; i < 3; i++) sockets[0]!.ev.emit("connection.update", { qr: `2@qr-${i}` });
      await until(() => announced.code.length === 1, "the pairing code announced");
      await new Promise((r) => setTimeout(r, 300));
      expect(codesAsked).toEqual(["4915112345678"]);
      expect(announced.code.map((c) => JSON.parse(c) as { code: string })).toMatchObject([{ code: "ABCD1234" }]);
      expect(announced.qr).toEqual([]);
      // `claw channels pair` prints it: a CLI still starting may miss one announcement, so each try is a new
      // connection (as after WhatsApp drops an unpaired one), which asks for a code again
      let printed = "";
      const pairing = runCli(["channels", "pair", "whatsapp", "by-code", "--timeout", "30"], { NATS_URL: nats.url }, 40_000, (t) => (printed = t));
      for (const deadline = Date.now() + 20_000; !printed.includes("enter: ABCD1234") && Date.now() < deadline;) {
        const n = sockets.length;
        sockets[n - 1]!.ev.emit("connection.update", { connection: "close", lastDisconnect: { error: boom(408, "QR refs ended"), date: new Date() } });
        await until(() => sockets.length === n + 1, "a new socket");
        sockets[n]!.ev.emit("connection.update", { qr: "2@qr-again" });
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(printed).toContain("Link with phone number instead, enter: ABCD1234");
      expect(codesAsked.length, "one code per connection").toBe(sockets.length);
      // typed on the phone: linked
      const linked = sockets.at(-1)!;
      linked.config.auth.creds.registered = true;
      linked.config.auth.creds.me = { id: "4915112345678:2@s.whatsapp.net" };
      linked.ev.emit("creds.update", {});
      linked.ev.emit("connection.update", { connection: "open" });
      const paired = await pairing;
      expect(paired.code, `${paired.stdout}\n${paired.stderr}`).toBe(0);
      expect(paired.stdout).toContain("whatsapp account by-code is linked and connected");
      expect(paired.stdout).not.toMatch(/[▀▄█]/);
      // a linked device reconnecting asks for no code
      const asked = codesAsked.length;
      linked.ev.emit("connection.update", { connection: "close", lastDisconnect: { error: boom(428, "Connection Closed"), date: new Date() } });
      await until(() => sockets.length === asked + 1, "a new socket");
      expect(sockets.at(-1)!.config.auth.creds.registered).toBe(true);
      sockets.at(-1)!.ev.emit("connection.update", { qr: "2@qr-late" });
      await new Promise((r) => setTimeout(r, 300));
      expect(codesAsked.length).toBe(asked);
      expect(announced.qr).toEqual([]);
    } finally {
      for (const sub of subs) sub.unsubscribe();
      await runner.stop();
    }
  }, 60_000);
});
