/**
 * Whose a WebSocket session is (F7), and what it leaves behind (F15), with a
 * real node: two keys that name the same `?session=` have two sessions (the
 * second neither closes the first nor reads its replies); a session made
 * without a name belongs to the client that holds its secret — knowing its
 * id (the live view shows it) does not take its socket over, in the `ws`
 * client and in the /chat page in Chromium; a session's consumer is removed
 * soon after its last connection goes, and a reply that came meanwhile is
 * still delivered when the client comes back.
 */
import { existsSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { outboundSubject, STREAMS, webSessionConsumerSpec } from "../../src/bus/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { runCli } from "../support/claw-cli.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { skipWithout } from "../support/ci.js";

const CHROMIUM = process.env.CLAW_CHROMIUM ?? "/usr/bin/chromium";
// under CI a missing Chromium is a failure, not a skip
const NO_BROWSER = skipWithout(
  "ws-sessions: the /chat page in Chromium",
  existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install -y chromium, or CLAW_CHROMIUM)`,
);

type Frame = { type: string; [k: string]: unknown };
type Client = {
  ws: WebSocket;
  frames: Frame[];
  next(pred: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  closed: Promise<{ code: number; reason: string }>;
};

/** A client that keeps every frame, with a wait for the next that matches; rejects with the status of a refused upgrade. */
async function open(base: string, query: string, headers: Record<string, string> = {}): Promise<Client> {
  const ws = new WebSocket(`${base.replace("http", "ws")}/v1/ws?${query}`, { headers });
  const frames: Frame[] = [];
  ws.on("message", (d) => frames.push(JSON.parse(d.toString()) as Frame));
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.once("close", (code, reason) => r({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once("error", reject);
  });
  let from = 0;
  return {
    ws,
    frames,
    closed,
    async next(pred, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = frames.findIndex((f, k) => k >= from && pred(f));
        if (i >= 0) {
          from = i + 1;
          return frames[i]!;
        }
        if (Date.now() > deadline) throw new Error(`no matching frame within ${timeoutMs} ms; frames: ${JSON.stringify(frames)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

const IDLE_MS = 2_000;

describe("WebSocket sessions", () => {
  let nats: NatsServerProcess;
  let openNode: ClawProcess;
  let keyed: ClawProcess;
  let openBase: string;
  let keyedBase: string;
  let alice: string;
  let mallory: string;
  beforeAll(async () => {
    nats = await natsServer();
    [openNode, keyed] = await Promise.all([
      startClaw({ env: { NATS_URL: nats.url, CLAW_NODE_ID: "open", CLAW_WS_CONSUMER_IDLE_MS: String(IDLE_MS) } }),
      startClaw({ env: { NATS_URL: nats.url, CLAW_NODE_ID: "keyed", CLAW_AUTH: "required", CLAW_WS_CONSUMER_IDLE_MS: String(IDLE_MS) } }),
    ]);
    openBase = `http://127.0.0.1:${openNode.httpPort}`;
    keyedBase = `http://127.0.0.1:${keyed.httpPort}`;
    const key = async () => {
      const r = await runCli(["keys", "create", "--scopes", "messages:write", "--json"], { NATS_URL: nats.url });
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { key: string }).key;
    };
    [alice, mallory] = await Promise.all([key(), key()]);
  }, 60_000);
  afterAll(async () => {
    await openNode?.[Symbol.asyncDispose]();
    await keyed?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it("gives two keys that name the same session two sessions: no takeover, no shared replies", async () => {
    const a = await open(keyedBase, "session=shared", { authorization: `Bearer ${alice}` });
    expect(await a.next((f) => f.type === "hello")).toMatchObject({ session: "shared" });
    a.ws.send(JSON.stringify({ text: "my card PIN is 4242", id: "pin-1" }));
    await a.next((f) => f.type === "reply" && f.replyTo === "pin-1");
    const m = await open(keyedBase, "session=shared", { authorization: `Bearer ${mallory}` });
    await m.next((f) => f.type === "hello");
    m.ws.send(JSON.stringify({ text: "/history", id: "peek-1" }));
    const peek = await m.next((f) => f.type === "reply" && f.replyTo === "peek-1");
    expect(peek.text).not.toContain("4242");
    // alice's socket is still hers: open, and answered
    a.ws.send(JSON.stringify({ text: "/history", id: "mine-1" }));
    expect((await a.next((f) => f.type === "reply" && f.replyTo === "mine-1")).text).toContain("4242");
    expect(a.ws.readyState).toBe(WebSocket.OPEN);
    expect(a.frames.some((f) => f.replyTo === "peek-1")).toBe(false);
    // the same key again is the same session: the newer connection takes over
    const again = await open(keyedBase, "session=shared", { authorization: `Bearer ${alice}` });
    await again.next((f) => f.type === "hello");
    expect((await a.closed).code).toBe(4001);
    for (const c of [again, m]) c.ws.close();
  }, 30_000);

  it("keeps a session made without a name to the client holding its secret", async () => {
    const owner = await open(openBase, "ack=client");
    const hello = await owner.next((f) => f.type === "hello");
    expect(hello.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const id = hello.session as string;
    expect(id).not.toContain(hello.token as string);
    owner.ws.send(JSON.stringify({ text: "my card PIN is 4242", id: "t-1" }));
    const first = await owner.next((f) => f.type === "reply" && f.replyTo === "t-1");
    owner.ws.send(JSON.stringify({ type: "ack", id: first.id }));
    // the session's id alone: refused, whoever asks on the open gateway
    await expect(open(openBase, `session=${encodeURIComponent(id)}`)).rejects.toThrow(/400/);
    await expect(open(openBase, `token=${encodeURIComponent(id)}`)).rejects.toThrow(/400/);
    // another secret is another session
    const other = await open(openBase, `token=${"x".repeat(32)}`);
    expect((await other.next((f) => f.type === "hello")).session).not.toBe(id);
    other.ws.send(JSON.stringify({ text: "/history", id: "t-peek" }));
    expect((await other.next((f) => f.type === "reply" && f.replyTo === "t-peek")).text).not.toContain("4242");
    expect(owner.ws.readyState).toBe(WebSocket.OPEN);
    // the secret brings the owner back, with a reply that came while it was away
    owner.ws.send(JSON.stringify({ text: "/slow 1500", id: "t-2" }));
    await owner.next((f) => f.type === "accepted" && f.id === "t-2");
    owner.ws.close();
    await owner.closed;
    const back = await open(openBase, `token=${hello.token as string}&ack=client`);
    expect((await back.next((f) => f.type === "hello")).session).toBe(id);
    expect(await back.next((f) => f.type === "reply", 15_000)).toMatchObject({ replyTo: "t-2", text: "slept 1500 ms" });
    for (const c of [back, other]) c.ws.close();
  }, 30_000);

  it("removes a session's consumer soon after its last connection, and still delivers what came meanwhile", async () => {
    await using c = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(c);
    const addr = { channel: "ws", account: "web", chat: "reaped" };
    const consumer = webSessionConsumerSpec(addr).durable_name;
    const first = await open(openBase, "session=reaped");
    await first.next((f) => f.type === "hello");
    // the hello frame goes out before the session's consumer is made (the stream keeps replies meanwhile)
    const info = async () => jsm.consumers.info(STREAMS.out, consumer).catch(() => undefined);
    for (let i = 0; i < 100 && !(await info()); i++) await new Promise((r) => setTimeout(r, 50));
    expect((await info())?.config.inactive_threshold).toBeLessThanOrEqual(IDLE_MS * 1e6);
    first.ws.send(JSON.stringify({ text: "/slow 500", id: "r-1" }));
    await first.next((f) => f.type === "accepted");
    first.ws.close();
    await first.closed;
    // the reply waits in the stream; the consumer goes
    const deadline = Date.now() + 20_000;
    for (;;) {
      const gone = await jsm.consumers.info(STREAMS.out, consumer).then(
        () => false,
        () => true,
      );
      if (gone) break;
      if (Date.now() > deadline) throw new Error(`the consumer ${consumer} was still there 20 s after its connection closed`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const waiting = await jsm.streams.info(STREAMS.out, { subjects_filter: outboundSubject(addr) });
    expect(waiting.state.subjects?.[outboundSubject(addr)]).toBe(1);
    const back = await open(openBase, "session=reaped");
    expect(await back.next((f) => f.type === "reply")).toMatchObject({ replyTo: "r-1", text: "slept 500 ms" });
    // a connection that stays (idle longer than the threshold) keeps its consumer and its replies
    await new Promise((r) => setTimeout(r, IDLE_MS * 2));
    back.ws.send(JSON.stringify({ text: "after a quiet while", id: "r-2" }));
    expect(await back.next((f) => f.type === "reply" && f.replyTo === "r-2")).toMatchObject({ text: "after a quiet while" });
    back.ws.close();
  }, 60_000);

  describe.skipIf(NO_BROWSER)("the /chat page in Chromium", () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      });
    }, 30_000);
    afterAll(async () => {
      await browser?.close();
    });

    it("keeps the page's session to the page: its shown id does not take the socket over", async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${openBase}/chat`);
      await page.waitForSelector('#status[data-status="open"]');
      const shown = (await page.textContent("#session"))!;
      expect(shown).toMatch(/^~tok:[0-9a-f]{32}~$/);
      await page.fill("#text", "my card PIN is 4242");
      await page.click('#composer button[type="submit"]');
      await page.waitForFunction(
        () => [...document.querySelectorAll("#messages li:not(.mine)")].some((li) => li.textContent === "my card PIN is 4242"),
        undefined,
        { timeout: 10_000 },
      );
      // someone who saw the id tries it: refused, and the page stays connected
      await expect(open(openBase, `session=${encodeURIComponent(shown)}`)).rejects.toThrow(/400/);
      await new Promise((r) => setTimeout(r, 300));
      expect(await page.getAttribute("#status", "data-status")).toBe("open");
      // the page goes on in its session after a reload (its secret is kept in the browser)
      await page.reload();
      await page.waitForSelector('#status[data-status="open"]');
      expect(await page.textContent("#session")).toBe(shown);
      await page.fill("#text", "/history");
      await page.click('#composer button[type="submit"]');
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll("#messages li:not(.mine)")].some((li) => li.textContent?.includes("earlier turns") && li.textContent.includes("4242")),
        undefined,
        { timeout: 10_000 },
      );
      // "New chat" is a new session
      await page.click("#new-session");
      await page.waitForFunction(
        (old) => document.querySelector("#session")?.textContent !== old && document.querySelector("#status")?.getAttribute("data-status") === "open",
        shown,
        { timeout: 10_000 },
      );
      expect(errors).toEqual([]);
      await page.close();
    }, 30_000);
  });
});
