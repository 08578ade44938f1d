/**
 * Hostile input against a real node: a body past the limit refused before it
 * is read, JSON nested too deep, a wrong content type, bytes that are not
 * UTF-8, a header with a line break in it, clients that send their headers
 * or their body too slowly (slowloris), and a message on `claw.in` nested
 * too deep — each a clear error (or a dead letter with the reason), and the
 * node serving normally afterwards.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { client, natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { waitForDeadLetters } from "../support/dead-letters.js";

/** Sends raw bytes and collects what comes back until the server closes (or `ms` pass). */
function raw(port: number, chunks: Array<string | Buffer>, o: { gapMs?: number; ms?: number } = {}): Promise<{ text: string; closedAfterMs: number; closed: boolean }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket: Socket = connect(port, "127.0.0.1");
    let text = "";
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({ text, closedAfterMs: Date.now() - started, closed });
    };
    socket.on("data", (b) => (text += b.toString("latin1")));
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
    setTimeout(() => finish(false), o.ms ?? 10_000);
    void (async () => {
      for (const c of chunks) {
        if (socket.destroyed) return;
        socket.write(c);
        if (o.gapMs) await new Promise((r) => setTimeout(r, o.gapMs));
      }
    })();
  });
}

const post = (node: ClawProcess, path: string, body: BodyInit, headers: Record<string, string>) => fetch(`http://127.0.0.1:${node.httpPort}${path}`, { method: "POST", body, headers }).then(async (r) => ({ status: r.status, json: (await r.json().catch(() => undefined)) as any }));

describe("hostile input", () => {
  let nats: NatsServerProcess;
  let node: ClawProcess;
  beforeAll(async () => {
    nats = await natsServer();
    node = await startClaw({ env: { NATS_URL: nats.url, CLAW_MAX_PAYLOAD: "65536", CLAW_HTTP_HEADERS_TIMEOUT_MS: "1000", CLAW_HTTP_REQUEST_TIMEOUT_MS: "2000" } });
  }, 60_000);
  afterAll(async () => {
    await node?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  const stillServing = async () => {
    const r = await post(node, "/v1/agents/echo/invoke", JSON.stringify({ text: "still here" }), { "content-type": "application/json" });
    expect(r.status).toBe(200);
    expect(r.json.reply.text).toBe("still here");
  };

  it("refuses a body past the limit before reading it, and one that grows past it as it comes", async () => {
    // a declared 10 MB body, of which nothing is sent: answered at once, and the connection closed
    const declared = await raw(node.httpPort, ["POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{"], { ms: 5_000 });
    expect(declared.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(declared.text).toContain('"code":"too_large"');
    expect(declared.closed).toBe(true);
    expect(declared.closedAfterMs).toBeLessThan(2_000);
    // chunked, with no length said: refused once past the limit
    const chunk = Buffer.alloc(32 * 1024, 0x61);
    const head = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
    const grown = await raw(node.httpPort, [head, frame, frame, frame, frame], { ms: 5_000 });
    expect(grown.text).toMatch(/^HTTP\/1\.1 413 /);
    await stillServing();
  }, 30_000);

  it("answers nesting, content types and encodings it does not take with a clear 4xx", async () => {
    const deep = `{"channel":"t","account":"a","chat":"c","sender":{"id":"u"},"text":"x","metadata":${"[".repeat(5_000)}${"]".repeat(5_000)}}`;
    const nested = await post(node, "/v1/messages", deep, { "content-type": "application/json" });
    expect(nested).toMatchObject({ status: 400, json: { error: { code: "too_deep" } } });
    const form = await post(node, "/v1/messages", "channel=t&text=x", { "content-type": "application/x-www-form-urlencoded" });
    expect(form).toMatchObject({ status: 415, json: { error: { code: "unsupported_media_type", message: expect.stringContaining("application/json") } } });
    const latin1 = Buffer.concat([Buffer.from('{"channel":"t","account":"a","chat":"c","sender":{"id":"u"},"text":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    const encoding = await post(node, "/v1/messages", latin1, { "content-type": "application/json" });
    expect(encoding).toMatchObject({ status: 400, json: { error: { code: "bad_encoding" } } });
    expect((await post(node, "/v1/messages", "{not json", { "content-type": "application/json" })).json.error.code).toBe("bad_json");
    await stillServing();
  }, 30_000);

  it("refuses a header with a line break in it, and cuts clients that send too slowly", async () => {
    const injected = await raw(node.httpPort, ["GET /healthz HTTP/1.1\r\nHost: x\r\nX-Evil: a\rSet-Cookie: b\r\n\r\n"], { ms: 3_000 });
    expect(injected.text).toMatch(/^HTTP\/1\.1 400 /);
    // headers a byte at a time, every 300 ms: cut after the headers timeout (1 s here)
    const headers = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Padding: " + "p".repeat(60);
    const slowHeaders = await raw(node.httpPort, headers.split(""), { gapMs: 300, ms: 15_000 });
    expect(slowHeaders.closed).toBe(true);
    expect(slowHeaders.closedAfterMs).toBeLessThan(4_000);
    // headers at once, then the body a byte at a time: cut after the request timeout (2 s here)
    const body = JSON.stringify({ channel: "t", account: "a", chat: "c", sender: { id: "u" }, text: "slow" });
    const slowBody = await raw(node.httpPort, [`POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, ...body.split("")], { gapMs: 300, ms: 15_000 });
    expect(slowBody.closed).toBe(true);
    expect(slowBody.closedAfterMs).toBeLessThan(5_000);
    expect(slowBody.text).not.toMatch(/HTTP\/1\.1 202/);
    await stillServing();
  }, 40_000);

  it("dead-letters a message on claw.in nested too deep, with the reason", async () => {
    await using c = await client(nats.url);
    const deep = `{"sender":{"id":"u"},"text":"x","metadata":{"a":${'{"b":'.repeat(200)}1${"}".repeat(200)}}}`;
    await c.js.publish("claw.in.t.a.deep", new TextEncoder().encode(deep), { msgID: "deep-1" });
    const dead = await waitForDeadLetters(c.jsm, (all) => all.some((d) => d.code === "too_deep"));
    expect(dead.find((d) => d.code === "too_deep")!.reason).toMatch(/nests deeper than 32 levels/);
    await stillServing();
  }, 30_000);
});
