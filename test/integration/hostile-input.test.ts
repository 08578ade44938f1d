/**
 * Hostile input against a real node: a body past the limit refused before it
 * is read (chunked too, on the audited routes, whose audit record must not
 * outlive the connection: F1), JSON nested too deep (the one depth ingress
 * takes: F20), a wrong content type, bytes that are not UTF-8, an address
 * too long for a subject (400 naming the field: F21), HEAD (F23), a header
 * with a line break in it, clients that send their headers or their body too
 * slowly (slowloris), a flood of connections past `CLAW_HTTP_MAX_CONNECTIONS`
 * with few file descriptors (F14), and a message on `claw.in` nested too
 * deep — each a clear error (or a dead letter with the reason), and the node
 * serving normally afterwards.
 */
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { runCli } from "../support/claw-cli.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { client, natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { decode, listDeadLetters } from "../../src/bus/index.js";
import { waitForDeadLetters } from "../support/dead-letters.js";

/** Sends raw bytes and collects what comes back until the server closes (or `ms` pass). */
function raw(
  port: number,
  chunks: Array<string | Buffer>,
  o: { gapMs?: number; ms?: number } = {},
): Promise<{ text: string; closedAfterMs: number; closed: boolean }> {
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

const post = (node: ClawProcess, path: string, body: BodyInit, headers: Record<string, string>) =>
  fetch(`http://127.0.0.1:${node.httpPort}${path}`, { method: "POST", body, headers }).then(async (r) => ({
    status: r.status,
    json: (await r.json().catch(() => undefined)) as any,
  }));

describe("hostile input", () => {
  let nats: NatsServerProcess;
  let node: ClawProcess;
  beforeAll(async () => {
    nats = await natsServer();
    node = await startClaw({
      env: { NATS_URL: nats.url, CLAW_MAX_PAYLOAD: "65536", CLAW_HTTP_HEADERS_TIMEOUT_MS: "1000", CLAW_HTTP_REQUEST_TIMEOUT_MS: "2000" },
    });
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
    const declared = await raw(
      node.httpPort,
      ["POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{"],
      { ms: 5_000 },
    );
    expect(declared.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(declared.text).toContain('"code":"too_large"');
    expect(declared.closed).toBe(true);
    expect(declared.closedAfterMs).toBeLessThan(2_000);
    // chunked, with no length said: refused once past the limit
    const chunk = Buffer.alloc(32 * 1024, 0x61);
    const head = "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
    const grown = await raw(node.httpPort, [head, frame, frame, frame, frame], { ms: 5_000 });
    expect(grown.text).toMatch(/^HTTP\/1\.1 413 /);
    await stillServing();
  }, 30_000);

  it("answers a chunked body past the limit on every audited route with 413, records it, and lives on (F1)", async () => {
    const chunk = Buffer.alloc(32 * 1024, 0x61);
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
    // skills take 16 times the payload (their files)
    const routes = { "/v1/agents": 4, "/v1/skills": 40, "/v1/webhooks": 4, "/v1/dlq/1/replay": 4 };
    for (const [path, frames] of Object.entries(routes)) {
      const head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
      const r = await raw(node.httpPort, [head, ...Array<Buffer>(frames).fill(frame)], { ms: 5_000 });
      expect(r.text, path).toMatch(/^HTTP\/1\.1 413 /);
      await new Promise((res) => setTimeout(res, 200));
      expect(node.child.exitCode, `${path}: the node exited:\n${node.output().slice(-1500)}`).toBeNull();
    }
    await stillServing();
    // the refusals are in the audit trail, from the client's address, read when the request came in
    let records: Array<{ what: string; outcome: number | string; from: string }> = [];
    for (const deadline = Date.now() + 5_000; Date.now() < deadline;) {
      const r = await runCli(["audit", "tail", "-n", "50", "--json"], { NATS_URL: nats.url });
      records = r.stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      if (Object.keys(routes).every((p) => records.some((x) => x.what === `POST ${p}`))) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    for (const path of Object.keys(routes))
      expect(
        records.find((x) => x.what === `POST ${path}`),
        path,
      ).toMatchObject({ outcome: 413, from: expect.stringMatching(/127\.0\.0\.1/) });
  }, 60_000);

  it("answers nesting, content types and encodings it does not take with a clear 4xx", async () => {
    const deep = `{"channel":"t","account":"a","chat":"c","sender":{"id":"u"},"text":"x","metadata":${"[".repeat(5_000)}${"]".repeat(5_000)}}`;
    const nested = await post(node, "/v1/messages", deep, { "content-type": "application/json" });
    expect(nested).toMatchObject({ status: 400, json: { error: { code: "too_deep" } } });
    const form = await post(node, "/v1/messages", "channel=t&text=x", { "content-type": "application/x-www-form-urlencoded" });
    expect(form).toMatchObject({ status: 415, json: { error: { code: "unsupported_media_type", message: expect.stringContaining("application/json") } } });
    const latin1 = Buffer.concat([
      Buffer.from('{"channel":"t","account":"a","chat":"c","sender":{"id":"u"},"text":"caf'),
      Buffer.from([0xe9]),
      Buffer.from('"}'),
    ]);
    const encoding = await post(node, "/v1/messages", latin1, { "content-type": "application/json" });
    expect(encoding).toMatchObject({ status: 400, json: { error: { code: "bad_encoding" } } });
    expect((await post(node, "/v1/messages", "{not json", { "content-type": "application/json" })).json.error.code).toBe("bad_json");
    await stillServing();
  }, 30_000);

  it("takes JSON exactly as deep as ingress does, over HTTP and the WebSocket (F20)", async () => {
    const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
    // the body is level 1 and metadata level 2: its value nests 30 more (32 in all), and 31 is one too many
    const body = (depth: number) => `{"chat":"deep","sender":{"id":"u"},"text":"x","metadata":{"n":${nested(depth)}}}`;
    const ok = await post(node, "/v1/messages", body(30), { "content-type": "application/json" });
    expect(ok.status).toBe(202);
    expect(await post(node, "/v1/messages", body(31), { "content-type": "application/json" })).toMatchObject({
      status: 400,
      json: { error: { code: "too_deep" } },
    });
    // a frame is not read as an HTTP body: the same depth holds there
    const ws = new WebSocket(`ws://127.0.0.1:${node.httpPort}/v1/ws?session=deep`);
    const frames: Array<{ type: string; code?: string }> = [];
    ws.on("message", (d) => frames.push(JSON.parse(d.toString()) as { type: string }));
    await new Promise((r) => ws.once("open", r));
    ws.send(`{"text":"x","metadata":{"n":${nested(31)}}}`);
    for (const deadline = Date.now() + 5_000; !frames.some((f) => f.type === "error" || f.type === "accepted") && Date.now() < deadline;)
      await new Promise((r) => setTimeout(r, 20));
    ws.close();
    expect(frames.find((f) => f.type === "error" || f.type === "accepted")).toMatchObject({ type: "error", code: "too_deep" });
    // what was accepted is not dead-lettered later for its depth
    await using c = await client(nats.url);
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await listDeadLetters(c.jsm, { limit: 1_000 })).filter((d) => d.code === "too_deep" && d.msgId === ok.json.message_id)).toEqual([]);
  }, 30_000);

  it("answers an address too long for a subject with a 400 naming the field, not a 503 (F21)", async () => {
    const long = "é".repeat(100); // 200 characters, 600 once encoded for a subject
    const invoke = await post(node, "/v1/agents/echo/invoke", JSON.stringify({ text: "x", session: long }), { "content-type": "application/json" });
    expect(invoke).toMatchObject({ status: 400, json: { error: { field: "session" } } });
    const message = await post(node, "/v1/messages", JSON.stringify({ chat: long, text: "x" }), { "content-type": "application/json" });
    expect(message).toMatchObject({ status: 400, json: { error: { field: "chat" } } });
    const user = await post(node, "/v1/chat/completions", JSON.stringify({ model: "echo", user: long, messages: [{ role: "user", content: "x" }] }), {
      "content-type": "application/json",
    });
    expect(user.status).toBe(400);
    expect(user.json.error.param).toBe("user");
    const header = await post(node, "/v1/chat/completions", JSON.stringify({ model: "echo", messages: [{ role: "user", content: "x" }] }), {
      "content-type": "application/json",
      "x-claw-session": "s".repeat(300),
    });
    expect(header.status).toBe(400);
    expect(header.json.error.message).toMatch(/too long/);
    await stillServing();
  }, 30_000);

  it("answers HEAD on every GET route, without a body (F23)", async () => {
    for (const path of ["/healthz", "/readyz", "/openapi.json", "/v1/agents", "/ui", "/chat"]) {
      const res = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, { method: "HEAD" });
      expect(res.status, path).toBe(200);
      expect(await res.text(), path).toBe("");
    }
    expect((await fetch(`http://127.0.0.1:${node.httpPort}/nothing`, { method: "HEAD" })).status).toBe(404);
  }, 30_000);

  it("refuses a header with a line break in it, and cuts clients that send too slowly", async () => {
    const injected = await raw(node.httpPort, ["GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Evil: a\rSet-Cookie: b\r\n\r\n"], { ms: 3_000 });
    expect(injected.text).toMatch(/^HTTP\/1\.1 400 /);
    // headers a byte at a time, every 300 ms: cut after the headers timeout (1 s here)
    const headers = "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Padding: " + "p".repeat(60);
    const slowHeaders = await raw(node.httpPort, headers.split(""), { gapMs: 300, ms: 15_000 });
    expect(slowHeaders.closed).toBe(true);
    expect(slowHeaders.closedAfterMs).toBeLessThan(4_000);
    // headers at once, then the body a byte at a time: cut after the request timeout (2 s here)
    const body = JSON.stringify({ channel: "t", account: "a", chat: "c", sender: { id: "u" }, text: "slow" });
    const slowBody = await raw(
      node.httpPort,
      [`POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, ...body.split("")],
      { gapMs: 300, ms: 15_000 },
    );
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

/** The file descriptors a process has open. */
const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

describe("a flood of connections (F14)", () => {
  let nats: NatsServerProcess;
  let node: ClawProcess;
  beforeAll(async () => {
    nats = await natsServer();
    node = await startClaw({ env: { NATS_URL: nats.url, CLAW_HTTP_MAX_CONNECTIONS: "64", CLAW_HTTP_HEADERS_TIMEOUT_MS: "1000" } });
  }, 60_000);
  afterAll(async () => {
    await node?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it("holds at most CLAW_HTTP_MAX_CONNECTIONS, keeps its descriptors for NATS, and frees silent slots for /healthz", async () => {
    const pid = node.child.pid!;
    // few descriptors, as on a small host: without a limit the flood takes them all
    execFileSync("prlimit", ["--pid", String(pid), "--nofile=400:400"]);
    const baseline = openFds(pid);
    const flood: Socket[] = [];
    for (let i = 0; i < 800; i++) {
      const s = connect(node.httpPort, "127.0.0.1");
      s.on("error", () => undefined);
      flood.push(s);
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    try {
      expect(node.child.exitCode, node.output().slice(-1500)).toBeNull();
      expect(openFds(pid)).toBeLessThan(baseline + 64 + 20);
      // NATS is untouched: a message in over NATS is answered over NATS
      await using c = await client(nats.url);
      const reply = new Promise<string>((resolve) => {
        const sub = c.nc.subscribe("claw.out.t.a.flooded", { callback: (_e, m) => (sub.unsubscribe(), resolve(decode<{ text: string }>(m.data).text)) });
      });
      await c.nc.flush();
      await c.js.publish("claw.in.t.a.flooded", new TextEncoder().encode(JSON.stringify({ sender: { id: "u" }, text: "through the flood" })), {
        msgID: "flood-1",
      });
      expect(await reply).toBe("through the flood");
      // silent connections are closed after the headers timeout: the slots are free again for a probe
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await fetch(`http://127.0.0.1:${node.httpPort}/healthz`)).status).toBe(200);
      await node.waitForLogs((l) => typeof l.msg === "string" && l.msg.includes("CLAW_HTTP_MAX_CONNECTIONS"));
    } finally {
      for (const s of flood) s.destroy();
    }
  }, 60_000);
});
