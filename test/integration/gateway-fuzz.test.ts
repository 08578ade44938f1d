/**
 * A fuzz of broken HTTP against a real node, over raw sockets, on every
 * operation of its `/openapi.json` (and the WebSocket upgrade): bodies
 * chunked past the limit, truncated chunks, chunk sizes that are not
 * numbers or lie, Content-Length that lies both ways, both framings at once,
 * connections closed early, content types and bodies of every kind, odd
 * request targets, foreign hosts and oversized headers. After
 * each case the process is alive and answers `/healthz`, and nothing it did
 * was an unexpected error (the gateway's last resort logs those as
 * "gateway error"): every case gets an answer or a closed connection.
 */
import { connect } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";

const MAX_PAYLOAD = 4_096;

/** One broken request, as bytes written in pieces, and when the client gives up. */
interface Case {
  method: string;
  path: string;
  host: string;
  headers: Array<[string, string]>;
  framing: Framing;
  /** close after writing this many bytes of the whole request (undefined: write it all) */
  cutAt: number | undefined;
}

type Framing =
  | { kind: "none" }
  | { kind: "length"; body: Uint8Array; declared: number }
  | { kind: "chunked"; chunks: Array<{ size: string; data: Uint8Array }>; last: boolean }
  | { kind: "both"; body: Uint8Array; declared: number };

function bytesOf(c: Case): Buffer {
  const head = [`${c.method} ${c.path} HTTP/1.1`, `Host: ${c.host}`, ...c.headers.map(([k, v]) => `${k}: ${v}`)];
  const f = c.framing;
  let body: Buffer = Buffer.alloc(0);
  if (f.kind === "length") {
    head.push(`Content-Length: ${f.declared}`);
    body = Buffer.from(f.body);
  } else if (f.kind === "chunked" || f.kind === "both") {
    head.push("Transfer-Encoding: chunked");
    if (f.kind === "both") head.push(`Content-Length: ${f.declared}`);
    const chunks = f.kind === "chunked" ? f.chunks : [{ size: f.body.length.toString(16), data: f.body }];
    body = Buffer.concat([
      ...chunks.flatMap((ch) => [Buffer.from(`${ch.size}\r\n`), Buffer.from(ch.data), Buffer.from("\r\n")]),
      Buffer.from(f.kind === "both" || f.last ? "0\r\n\r\n" : ""),
    ]);
  }
  return Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`), body]);
}

/** Writes the case and waits for the node to answer or close (at most `ms`), then closes. */
function send(port: number, data: Buffer, cutAt: number | undefined, ms = 400): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let got = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, ms);
    socket.on("data", (b) => (got += b.toString("latin1")));
    socket.on("error", done);
    socket.on("close", done);
    socket.write(cutAt === undefined ? data : data.subarray(0, cutAt), () => {
      if (cutAt !== undefined) done();
    });
  });
}

const bodyBytes = fc.oneof(
  fc.json({ maxDepth: 6 }).map((j) => new TextEncoder().encode(j)),
  fc.uint8Array({ maxLength: 512 }),
  fc.integer({ min: MAX_PAYLOAD - 8, max: MAX_PAYLOAD * 20 }).map((n) => new Uint8Array(n).fill(0x61)),
  fc.integer({ min: 1, max: 200 }).map((d) => new TextEncoder().encode(`{"text":"x","metadata":{"a":${"[".repeat(d)}${"]".repeat(d)}}}`)),
);

const chunkSize = (data: Uint8Array) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(data.length.toString(16)) },
    fc.constantFrom("zz", "-1", "ffffffffffffffffffff", "7fffffff", "1;ext=1", " 10", "0x10", "", "0"),
    fc.integer({ min: 0, max: 1 << 20 }).map((n) => n.toString(16)),
  );

const chunk = fc.uint8Array({ maxLength: 3_000 }).chain((data) => chunkSize(data).map((size) => ({ size, data })));

const framing: fc.Arbitrary<Framing> = fc.oneof(
  fc.constant({ kind: "none" as const }),
  bodyBytes.chain((body) =>
    fc
      .oneof(fc.constant(body.length), fc.nat({ max: 100_000 }), fc.constant(MAX_PAYLOAD * 1000))
      .map((declared) => ({ kind: "length" as const, body, declared })),
  ),
  fc.record({ chunks: fc.array(chunk, { maxLength: 30 }), last: fc.boolean() }).map((r) => ({ kind: "chunked" as const, ...r })),
  bodyBytes.chain((body) => fc.nat({ max: 10_000 }).map((declared) => ({ kind: "both" as const, body, declared }))),
);

/** Request targets no route has, and some no URL parser takes. */
const oddTarget = fc.oneof(
  fc.constantFrom(
    "http://[",
    "//x",
    "*",
    "/%",
    "/v1/agents/%ZZ/invoke",
    "/ui/assets/..%2f..%2f..%2fetc%2fpasswd",
    "/v1/webhooks/%00/x",
    `/v1/ws?session=${"%C3%A9".repeat(300)}`,
    "http://127.0.0.1/healthz",
    "/healthz?" + "a".repeat(9_000),
  ),
  fc.webPath(),
);

const contentType = fc.constantFrom(
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "application/vnd.x+json",
  "multipart/form-data; boundary=zz",
  "",
  "application/json\u0000",
);

describe("a fuzz of broken HTTP on every route", () => {
  let nats: NatsServerProcess;
  let node: ClawProcess;
  let targets: Array<{ method: string; path: string }>;
  beforeAll(async () => {
    nats = await natsServer();
    node = await startClaw({
      env: { NATS_URL: nats.url, CLAW_MAX_PAYLOAD: String(MAX_PAYLOAD), CLAW_HTTP_HEADERS_TIMEOUT_MS: "1000", CLAW_HTTP_REQUEST_TIMEOUT_MS: "2000" },
    });
    const doc = (await (await fetch(`http://127.0.0.1:${node.httpPort}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const concrete = (t: string) =>
      t.replace("{rest}", "events").replace(/\{(\w+)\}/g, (_m, n: string) => ({ id: "echo", seq: "1", type: "telegram", account: "x" })[n] ?? "x");
    targets = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path: concrete(p) })));
  }, 60_000);
  afterAll(async () => {
    await node?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it("answers or closes every case, and lives on", async () => {
    expect(targets.length).toBeGreaterThanOrEqual(20);
    const host = `127.0.0.1:${node.httpPort}`;
    const request: fc.Arbitrary<Case> = fc
      .record({
        target: fc.oneof(
          { weight: 5, arbitrary: fc.constantFrom(...targets) },
          oddTarget.map((path) => ({ method: "GET", path })),
        ),
        host: fc.oneof({ weight: 5, arbitrary: fc.constant(host) }, fc.constantFrom("evil.example", "localhost", "", "[::1]:1", "a".repeat(300))),
        bigHeader: fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, fc.integer({ min: 1_000, max: 40_000 })),
        method: fc.option(fc.constantFrom("GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "PATCH"), { nil: undefined }),
        type: contentType,
        upgrade: fc.boolean(),
        origin: fc.option(fc.constantFrom(`http://${host}`, "http://evil.example", "null"), { nil: undefined }),
        framing,
        cut: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
      })
      .map((r) => {
        const headers: Array<[string, string]> = [];
        if (r.type) headers.push(["Content-Type", r.type]);
        if (r.origin) headers.push(["Origin", r.origin]);
        if (r.bigHeader) headers.push(["X-Padding", "p".repeat(r.bigHeader)]);
        if (r.upgrade)
          headers.push(["Connection", "Upgrade"], ["Upgrade", "websocket"], ["Sec-WebSocket-Version", "13"], ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="]);
        const c: Case = {
          method: r.method ?? r.target.method,
          path: r.upgrade && r.target.path.startsWith("/v1/") ? "/v1/ws?session=fuzz" : r.target.path,
          host: r.host,
          headers,
          framing: r.framing,
          cutAt: undefined,
        };
        if (r.cut !== undefined) c.cutAt = Math.floor(bytesOf(c).length * r.cut);
        return c;
      });
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(request, async (c) => {
        cases++;
        const logged = node.logs.length;
        await send(node.httpPort, bytesOf(c), c.cutAt);
        if (node.child.exitCode !== null || node.child.signalCode !== null) throw new Error(`the node exited:\n${node.output().slice(-3000)}`);
        const health = await fetch(`http://127.0.0.1:${node.httpPort}/healthz`, { signal: AbortSignal.timeout(5_000) });
        expect(health.status).toBe(200);
        // this case's own (a shrunk counterexample then names what did it)
        const unexpected = node.logs.slice(logged).filter((l) => l.msg === "gateway error");
        if (unexpected.length > 0) throw new Error(`unexpected errors: ${JSON.stringify(unexpected.slice(0, 3))}`);
      }),
      { numRuns: Number(process.env.CLAW_FUZZ_RUNS ?? 300), interruptAfterTimeLimit: 150_000, markInterruptAsFailure: false },
    );
    expect(cases).toBeGreaterThanOrEqual(50);
    // and it still does its work
    const res = await fetch(`http://127.0.0.1:${node.httpPort}/v1/agents/echo/invoke`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "after the fuzz" }),
    });
    expect(((await res.json()) as { reply: { text: string } }).reply.text).toBe("after the fuzz");
    expect(node.child.exitCode).toBeNull();
    expect(node.logs.filter((l) => l.msg === "gateway error")).toEqual([]);
  }, 240_000);
});
