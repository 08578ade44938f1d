/**
 * `@claw/sdk` against real nodes, imported as users import it (the package
 * the root build makes): every operation of the node's own `/openapi.json`
 * has a method (and the README's table says which), a publish sent twice
 * under one key is one message, invoke and the streamed reply, lists longer
 * than a page, a skill, errors as `ClawError`, a 503 from a node whose NATS is
 * down tried again until it is back and taken once, a real webhook delivery
 * verified and a tampered one refused; and `@claw/sdk/bus`: a publish with
 * `Nats-Msg-Id`, replies read once each across readers that stop and start
 * again, and one that died before it was done with a reply getting it again.
 */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Claw, ClawError, verifyWebhook } from "@claw/sdk";
import { ClawBus, type ReplyEnvelope } from "@claw/sdk/bus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/bus/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { lastUser, startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.js";
import { client, natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { SDK_METHODS, sdkOperations, sdkRoutes } from "../support/sdk-parity.js";
import { until } from "../support/until.js";

const README = new URL("../../sdk/typescript/README.md", import.meta.url);
const LONG_ANSWER = "A reply long enough that the model writes it in several pieces, one after another.";

let nats: NatsServerProcess;
let fake: FakeOpenAI;
let node: ClawProcess;
let claw: Claw;
let receiver: Server;
let receiverUrl = "";
const received: Array<{ headers: IncomingMessage["headers"]; body: string }> = [];

beforeAll(async () => {
  receiver = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
    res.writeHead(200).end();
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", () => r()));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks`;
  nats = await natsServer();
  fake = await startFakeOpenAI();
  fake.answer = (req) => (lastUser(req) === "long" ? { text: LONG_ANSWER, pieceDelayMs: 20 } : { text: `model: ${lastUser(req)}` });
  const config = join(tmpdir(), `claw-sdk-ts-${process.pid}.json`);
  await writeFile(
    config,
    JSON.stringify({ providers: { up: { baseURL: fake.baseURL, model: "m-up" } }, agents: [{ id: "echo" }, { id: "writer", model: "up", bindings: [] }] }),
  );
  node = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_WEBHOOK_ALLOW_PRIVATE: "1" } });
  claw = new Claw({ baseUrl: `http://127.0.0.1:${node.httpPort}`, retries: 3, timeoutMs: 30_000 });
}, 60_000);

afterAll(async () => {
  await node?.[Symbol.asyncDispose]();
  await fake?.close();
  await nats?.stop();
  await new Promise((r) => receiver?.close(r));
});

/** A client whose first answer is lost after the node took the request (the connection dropped on the way back). */
function lossyClaw(): { claw: Claw; readonly sent: number } {
  let sent = 0;
  const claw = new Claw({
    baseUrl: `http://127.0.0.1:${node.httpPort}`,
    backoffMs: 10,
    fetch: async (input, init) => {
      sent++;
      const res = await fetch(input, init);
      if (sent === 1) {
        await res.text();
        throw new TypeError("fetch failed: the connection was reset");
      }
      return res;
    },
  });
  return {
    claw,
    get sent() {
      return sent;
    },
  };
}

/** The replies the stream holds for one chat of the `http` channel (nobody reads them: they stay in the work queue). */
async function storedReplies(url: string, chat: string): Promise<number> {
  await using c = await client(url);
  const info = await c.jsm.streams.info("CLAW_OUT", { subjects_filter: `claw.out.http.default.${chat}` });
  return Object.values(info.state.subjects ?? {}).reduce((a, n) => a + n, 0);
}

describe("parity with /openapi.json", () => {
  it("has a method for every operation of the node's document, and the README's table names exactly those", async () => {
    const doc = (await claw.openapi()) as Parameters<typeof sdkOperations>[0];
    const { required, unnamed } = sdkOperations(doc);
    expect(unnamed, "operations without an SDK method: name them in test/support/sdk-parity.ts and add them to both SDKs").toEqual([]);
    expect(required.length).toBeGreaterThan(15);
    const missing = Object.entries(SDK_METHODS).filter(([, path]) => {
      const fn = path.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], claw);
      return typeof fn !== "function";
    });
    expect(missing, "SDK_METHODS paths that are no function on new Claw()").toEqual([]);
    // the README's table: | `method` | `operationId` | `METHOD /path` |
    const routes = sdkRoutes(doc);
    const rows = [...readFileSync(README, "utf8").matchAll(/^\| `([\w.]+)` \| `(\w+)` \| `([A-Z]+ [^`]+)` \|/gm)].map((m) => [m[2]!, m[1]!, m[3]!]);
    expect(Object.fromEntries(rows.map(([op, method]) => [op, method]))).toEqual(SDK_METHODS);
    expect(rows.length).toBe(Object.keys(SDK_METHODS).length);
    for (const [op, , route] of rows) expect(route, op).toBe(routes.get(op));
  });
});

describe("the HTTP API", () => {
  it("publishes a message once for one key, however often it is sent", async () => {
    const chat = `once-${Date.now()}`;
    const first = await claw.messages.publish({ chat, text: "one message", idempotencyKey: "key-1" });
    const second = await claw.messages.publish({ chat, text: "one message", idempotencyKey: "key-1" });
    expect(first).toEqual({ messageId: expect.any(String), duplicate: false });
    expect(second).toEqual({ messageId: first.messageId, duplicate: true });
    // the echo agent answers it: one reply in the stream, and still one a while later
    let n = 0;
    const deadline = Date.now() + 15_000;
    while ((n = await storedReplies(nats.url, chat)) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(n).toBe(1);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await storedReplies(nats.url, chat)).toBe(1);
    // the node takes it but the answer is lost on the way: the retry sends the same key, and is absorbed
    const lossy = lossyClaw();
    const lost = await lossy.claw.messages.publish({ chat: `${chat}-lost`, text: "answer lost" });
    expect(lossy.sent).toBe(2);
    expect(lost.duplicate).toBe(true);
    const lostDeadline = Date.now() + 15_000;
    while ((await storedReplies(nats.url, `${chat}-lost`)) < 1 && Date.now() < lostDeadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await storedReplies(nats.url, `${chat}-lost`)).toBe(1);
    // without a key each publish is its own message
    const a = await claw.messages.publish({ chat, text: "again", sender: "someone" });
    const b = await claw.messages.publish({ chat, text: "again", sender: { id: "someone", name: "Some One" } });
    expect(a.messageId).not.toBe(b.messageId);
  });

  it("invokes an agent and gets its reply; tries again only with a key, and then it is the same turn", async () => {
    const r = await claw.agents.invoke("echo", { text: "hello sdk", session: "s-1" });
    expect(r).toMatchObject({ messageId: expect.any(String), session: "s-1", reply: { kind: "reply", text: "hello sdk" } });
    const k1 = await claw.agents.invoke("echo", { text: "keyed", idempotencyKey: "turn-1", timeoutMs: 20_000 });
    const k2 = await claw.agents.invoke("echo", { text: "keyed", idempotencyKey: "turn-1", timeoutMs: 20_000 });
    expect(k2.messageId).toBe(k1.messageId);
    expect(k2.reply.id).toBe(k1.reply.id);
    // an answer lost on the way: without a key the call is not sent again (it would be a second turn)
    const noKey = lossyClaw();
    await expect(noKey.claw.agents.invoke("echo", { text: "once only", session: "lossy" })).rejects.toMatchObject({ status: 0, code: "network_error" });
    expect(noKey.sent).toBe(1);
    const keyed = lossyClaw();
    const r2 = await keyed.claw.agents.invoke("echo", { text: "keyed lossy", session: "lossy", idempotencyKey: "lossy-1" });
    expect(keyed.sent).toBe(2);
    expect(r2.reply.text).toBe("keyed lossy");
  });

  it("streams the model's text as it is written, in the session named", async () => {
    const pieces: string[] = [];
    for await (const piece of claw.agents.stream("writer", { text: "long", session: "stream-1" })) pieces.push(piece);
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces.join("")).toBe(LONG_ANSWER);
    // the same conversation as invoke's session
    const after = await claw.agents.invoke("writer", { text: "and now", session: "stream-1" });
    expect(after.reply.text).toBe("model: and now");
    expect(fake.requests.at(-1)!.messages.map((m) => m.content)).toContain(LONG_ANSWER);
    // the OpenAI-compatible routes, bodies as OpenAI's
    const completion = await claw.chat.completions.create({ model: "echo", messages: [{ role: "user", content: "plain" }] });
    expect(completion).toMatchObject({ object: "chat.completion", choices: [{ message: { content: "plain" } }] });
    const chunks = [];
    for await (const c of claw.chat.completions.create({ model: "writer", messages: [{ role: "user", content: "long" }], stream: true })) chunks.push(c);
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    const response = await claw.responses.create({ model: "echo", input: "responses" });
    expect(response).toMatchObject({ object: "response", status: "completed" });
    const events = [];
    for await (const e of claw.responses.create({ model: "writer", input: "long", stream: true })) events.push(e.type);
    expect(events).toContain("response.output_text.delta");
    expect(events.at(-1)).toBe("response.completed");
    const models = [];
    for await (const m of claw.models.list()) models.push(m.id);
    expect(models.sort()).toEqual(["echo", "writer"]);
    expect(await claw.models.get("writer")).toMatchObject({ id: "writer", object: "model" });
  });

  it("follows next_cursor through lists longer than a page", async () => {
    for (let i = 0; i < 5; i++) await claw.agents.register({ id: `bulk-${i}`, bindings: [] });
    expect(await claw.agents.get("bulk-3")).toMatchObject({ spec: { id: "bulk-3" }, source: "api" });
    const paged: string[] = [];
    for await (const a of claw.agents.list({ pageSize: 2 })) paged.push(a.spec.id);
    const whole: string[] = [];
    for await (const a of claw.agents.list({ pageSize: 1000 })) whole.push(a.spec.id);
    expect(paged.length).toBeGreaterThanOrEqual(7);
    expect(paged).toEqual(whole);
    expect(new Set(paged).size).toBe(paged.length);
    for (let i = 0; i < 3; i++) await claw.webhooks.create({ url: `${receiverUrl}?n=${i}`, events: ["dead_letter"] });
    const hooks = [];
    for await (const w of claw.webhooks.list({ pageSize: 1 })) hooks.push(w);
    expect(hooks.length).toBeGreaterThanOrEqual(3);
    for (const w of hooks) await claw.webhooks.delete(w.id);
    const left = [];
    for await (const w of claw.webhooks.list()) left.push(w);
    expect(left).toEqual([]);
  });

  it("runs a skill, and lists and registers skills", async () => {
    const out = (await claw.skills.invoke("time.now", {}, { timeoutMs: 15_000 })) as Record<string, unknown>;
    expect(JSON.stringify(out)).toMatch(/\d{4}-\d{2}-\d{2}T/);
    const ids = new Set<string>();
    for await (const s of claw.skills.list({ pageSize: 1 })) ids.add(s.id);
    expect(ids.has("time.now")).toBe(true);
    expect(await claw.skills.get("time.now")).toBeTruthy();
    const descriptor = { id: "sdk-hello", version: "1.0.0", description: "says hello", runtime: "node", entrypoint: ["index.mjs"] };
    await claw.skills.register(descriptor, { "index.mjs": "process.stdout.write(JSON.stringify({ hello: true }))" });
    const versions = [];
    for await (const s of claw.skills.list()) if (s.id === "sdk-hello") versions.push(s.version);
    expect(versions).toEqual(["1.0.0"]);
  });

  it("answers failures as ClawError: status, code, message, field", async () => {
    const e = await claw.agents.get("no-such-agent").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ClawError);
    expect(e).toMatchObject({ status: 404, code: "no_agent", message: expect.stringContaining("no-such-agent") });
    await expect(claw.models.get("no-such-agent")).rejects.toMatchObject({ status: 404, code: "model_not_found", field: "model" });
    await expect(claw.messages.publish({ chat: "", text: "x" })).rejects.toMatchObject({ status: 400, code: "invalid_body", field: "chat" });
    await expect(claw.skills.invoke("no.such.skill")).rejects.toMatchObject({ status: 404, code: "no_skill" });
    await expect(claw.dlq.get(999_999)).rejects.toMatchObject({ status: 404 });
    await expect(claw.dlq.replay(999_999)).rejects.toMatchObject({ status: 404 });
    expect(await claw.approvals.list({ agent: "echo" })).toEqual([]);
    await expect(claw.approvals.decide(`ap${"0".repeat(24)}`, { decision: "approve", by: "ts" })).rejects.toMatchObject({ status: 404, code: "no_approval" });
    const nowhere = new Claw({ baseUrl: `http://127.0.0.1:${await freePort()}`, retries: 1, backoffMs: 1 });
    await expect(nowhere.agents.get("echo")).rejects.toMatchObject({ status: 0, code: "connection_refused" });
    // the rest answers: a dead letter list (of one stage), channels, metrics
    for await (const _ of claw.dlq.list({ stage: "ingress" })) void _;
    for await (const _ of claw.channels.list()) void _;
    expect(await claw.metrics()).toMatch(/^# HELP/m);
  });

  it("verifies a real webhook delivery and refuses a tampered one", async () => {
    const hook = await claw.webhooks.create({ url: receiverUrl, events: ["reply"] });
    expect(hook).toMatchObject({ id: expect.any(String), secret: expect.any(String) });
    const before = received.length;
    await claw.agents.invoke("echo", { text: "deliver me", session: "hooks" });
    await until(() => received.slice(before).some((r) => r.body.includes("deliver me")), "the reply's delivery");
    const d = received.slice(before).find((r) => r.body.includes("deliver me"))!;
    expect(verifyWebhook({ secret: hook.secret, headers: d.headers, body: d.body, toleranceS: 300 })).toBe(true);
    expect(verifyWebhook({ secret: hook.secret, headers: d.headers, body: d.body.replace("deliver me", "deliver it"), toleranceS: 300 })).toBe(false);
    expect(verifyWebhook({ secret: "not-the-secret", headers: d.headers, body: d.body })).toBe(false);
    // a delete whose answer was lost: its retry's 404 means it is done
    const lossy = lossyClaw();
    await lossy.claw.webhooks.delete(hook.id);
    expect(lossy.sent).toBe(2);
    await expect(claw.webhooks.delete(hook.id)).rejects.toMatchObject({ status: 404 });
  });
});

describe("a node whose NATS is down", () => {
  it("answers 503 and the SDK tries again until NATS is back: the message is taken once", async () => {
    await using nats2 = await natsServer();
    await using node2 = await startClaw({ env: { NATS_URL: nats2.url } });
    const statuses: number[] = [];
    const counting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      statuses.push(res.status);
      return res;
    };
    const sdk = new Claw({ baseUrl: `http://127.0.0.1:${node2.httpPort}`, retries: 30, fetch: counting });
    await nats2.kill("SIGKILL");
    const deadline = Date.now() + 20_000;
    while ((await fetch(`http://127.0.0.1:${node2.httpPort}/readyz`)).status !== 503) {
      if (Date.now() > deadline) throw new Error("the node never said it was not ready");
      await new Promise((r) => setTimeout(r, 100));
    }
    const chat = "while-down";
    const published = sdk.messages.publish({ chat, text: "sent while NATS was down" });
    await until(() => statuses.includes(503), "a 503 while NATS is down", 20_000);
    await nats2.restart();
    const r = await published;
    expect(r.messageId).toEqual(expect.any(String));
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(1);
    expect(statuses.at(-1)).toBe(202);
    // one message: the echo agent's one reply, and no second
    const until2 = Date.now() + 20_000;
    while ((await storedReplies(nats2.url, chat)) < 1 && Date.now() < until2) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await storedReplies(nats2.url, chat)).toBe(1);
  }, 90_000);
});

describe("@claw/sdk/bus", () => {
  const read = async (bus: ClawBus, channel: string, durable: string, n: number, onEach?: (r: ReplyEnvelope) => Promise<void>) => {
    const got: ReplyEnvelope[] = [];
    for await (const r of bus.replies({ channel, durable, ackWaitMs: 2_000, signal: AbortSignal.timeout(20_000) })) {
      got.push(r);
      await onEach?.(r);
      if (got.length >= n) break;
    }
    return got;
  };

  it("publishes with Nats-Msg-Id, escaping the subject's tokens: one id is one message", async () => {
    await using bus = { b: await ClawBus.connect({ servers: nats.url }), [Symbol.asyncDispose]: () => bus.b.close() };
    const m = { channel: "kiosk", account: "web.eu", chat: "order 42 ✓", text: "where is it?", sender: "cust-7", id: `dup-${Date.now()}` };
    const first = await bus.b.publish(m);
    const again = await bus.b.publish(m);
    expect(first).toMatchObject({ duplicate: false, id: m.id });
    expect(again).toEqual({ seq: first.seq, duplicate: true, id: m.id });
    const [reply] = await read(bus.b, "kiosk", "sdk-dup", 1);
    expect(reply).toMatchObject({ replyTo: m.id, kind: "reply", text: "where is it?", channel: "kiosk", account: "web.eu", chat: "order 42 ✓" });
  });

  it("reads each reply once across readers that stop and start again; one a reader died holding comes again", async () => {
    const bus = await ClawBus.connect({ servers: nats.url });
    try {
      const ids = Array.from({ length: 6 }, (_, i) => `once-${Date.now()}-${i}`);
      for (const id of ids) await bus.publish({ channel: "shop", account: "web", chat: `c-${id}`, text: `hi ${id}`, sender: "cust", id });
      const a = await read(bus, "shop", "sdk-once", 3);
      const b = await read(bus, "shop", "sdk-once", 3);
      expect([...a, ...b].map((r) => r.replyTo).sort()).toEqual([...ids].sort());
      // nothing comes again: a third reader waits past the ack wait and gets nothing
      const stop = AbortSignal.timeout(3_500);
      const none: ReplyEnvelope[] = [];
      for await (const r of bus.replies({ channel: "shop", durable: "sdk-once", ackWaitMs: 2_000, signal: stop })) none.push(r);
      expect(none).toEqual([]);

      // a reader dies (its connection gone) while its loop holds a reply: that one is not done, the next reader gets it
      const more = [`died-${Date.now()}-0`, `died-${Date.now()}-1`];
      for (const id of more) await bus.publish({ channel: "shop", account: "web", chat: `c-${id}`, text: id, sender: "cust", id });
      const doomed = await ClawBus.connect({ servers: nats.url });
      const held = await read(doomed, "shop", "sdk-once", 1, () => doomed.nc.close());
      expect(held).toHaveLength(1);
      const next = await read(bus, "shop", "sdk-once", 2);
      expect(next.map((r) => r.replyTo).sort()).toEqual([...more].sort());
    } finally {
      await bus.close();
    }
  }, 60_000);
});
