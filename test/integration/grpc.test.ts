/**
 * `claw.v1.Claw` with a stock gRPC client (`@grpc/grpc-js`, stubs from the
 * repository's .proto) against a real node: each RPC, a stream that ends
 * cleanly, each status code of the mapping, credentials, scopes and shared
 * rate limits as HTTP's, sessions a caller shares across transports and no
 * other caller reaches, the health service flipping with NATS, reflection,
 * and a port that cannot be had named at start.
 */
import { createServer } from "node:net";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/bus/index.js";
import { runCli } from "../support/claw-cli.js";
import { runClawExpectingFailure, startClaw, type ClawProcess } from "../support/claw-node.js";
import { channelConfig } from "../support/channels.js";
import { lastUser, startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.js";
import { clawClient, healthClient, reflect, status, type TestGrpc } from "../support/grpc-client.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The retry delay (seconds) in a status's `grpc-status-details-bin` (google.rpc.Status → Any → RetryInfo → Duration), read by hand. */
function retryDelayS(details: Buffer): number | undefined {
  const fields = (b: Buffer): Array<{ no: number; value: Buffer | number }> => {
    const out: Array<{ no: number; value: Buffer | number }> = [];
    let i = 0;
    const varint = () => {
      let n = 0;
      let mul = 1;
      for (;;) {
        const c = b[i++]!;
        n += (c & 0x7f) * mul;
        mul *= 128;
        if (c < 0x80) return n;
      }
    };
    while (i < b.length) {
      const tag = varint();
      if ((tag & 7) === 2) {
        const len = varint();
        out.push({ no: tag >> 3, value: b.subarray(i, (i += len)) });
      } else out.push({ no: tag >> 3, value: varint() });
    }
    return out;
  };
  for (const d of fields(details).filter((f) => f.no === 3)) {
    const any = fields(d.value as Buffer);
    if (String(any.find((f) => f.no === 1)?.value) !== "type.googleapis.com/google.rpc.RetryInfo") continue;
    const retryInfo = fields(any.find((f) => f.no === 2)!.value as Buffer);
    return fields(retryInfo.find((f) => f.no === 1)!.value as Buffer).find((f) => f.no === 1)?.value as number;
  }
  return undefined;
}

/** Polls the health service until it says `want` for the whole server. */
async function untilHealth(h: TestGrpc, want: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = await h.unary<{ status: string }>("Check", { service: "" });
    if (c.ok && c.value.status === want) return;
    if (Date.now() > deadline) throw new Error(`health still ${JSON.stringify(c.ok ? c.value : c.error.details)} after ${timeoutMs} ms, not ${want}`);
    await sleep(100);
  }
}

async function createKey(natsUrl: string, scopes: string): Promise<{ id: string; key: string }> {
  const r = await runCli(["keys", "create", "--scopes", scopes, "--json"], { NATS_URL: natsUrl });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { id: string; key: string };
}

describe("gRPC on the open (loopback) node", () => {
  let nats: NatsServerProcess;
  let fake: FakeOpenAI;
  let claw: ClawProcess;
  let g: TestGrpc;
  let address: string;
  beforeAll(async () => {
    nats = await natsServer();
    fake = await startFakeOpenAI();
    fake.answer = (req) => ({ text: `The answer to "${lastUser(req)}" is a sentence long enough to come in several pieces.` });
    const config = join(tmpdir(), `claw-grpc-${process.pid}.json`);
    await writeFile(
      config,
      JSON.stringify({ providers: { up: { baseURL: fake.baseURL, model: "m-up" } }, agents: [{ id: "echo" }, { id: "assistant", model: "up" }] }),
    );
    claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config } });
    expect(claw.grpcPort, "the start line names the gRPC address").toBeGreaterThan(0);
    address = `127.0.0.1:${claw.grpcPort}`;
    g = clawClient(address);
  }, 60_000);
  afterAll(async () => {
    g?.close();
    await claw?.[Symbol.asyncDispose]();
    await fake?.close();
    await nats?.stop();
  });

  it("Publish: durably accepted, a retry with its idempotency key absorbed; Replies reads the chat's reply once per consumer name", async () => {
    const first = await g.unary<{ message_id: string; duplicate: boolean }>("Publish", { chat: "c1", text: "hi there", idempotency_key: "k-1" });
    expect(first).toMatchObject({ ok: true, value: { duplicate: false } });
    const again = await g.unary<{ message_id: string; duplicate: boolean }>("Publish", { chat: "c1", text: "hi there", idempotency_key: "k-1" });
    expect(again.ok && again.value).toEqual({ message_id: first.ok && first.value.message_id, duplicate: true });
    const id = first.ok ? first.value.message_id : "";

    const read = await g.stream<{ reply_to: string; text: string; channel: string; account: string; chat: string }>(
      "Replies",
      { chat: "c1", consumer: "backend-1" },
      { until: (got) => got.length >= 1, deadlineMs: 30_000 },
    );
    expect(read.messages[0]).toMatchObject({ reply_to: id, text: "hi there", channel: "grpc", account: "default", chat: "c1" });
    expect(read.status).toBe(status.CANCELLED);

    // acked once written: the same consumer name gets only what came after
    const next = await g.unary<{ message_id: string }>("Publish", { chat: "c1", text: "second" });
    const resumed = await g.stream<{ reply_to: string; text: string }>(
      "Replies",
      { chat: "c1", consumer: "backend-1" },
      { until: (got) => got.length >= 1, deadlineMs: 30_000 },
    );
    expect(resumed.messages.map((m) => m.text)).toEqual(["second"]);
    expect(resumed.messages[0]!.reply_to).toBe(next.ok && next.value.message_id);
  }, 60_000);

  it("Invoke: the reply, the session kept, and the statuses of the mapping", async () => {
    const r = await g.unary<{ message_id: string; session: string; text: string }>("Invoke", { agent: "echo", text: "hello", session: "s-1" });
    expect(r).toMatchObject({ ok: true, value: { session: "s-1", text: "hello" } });
    const h = await g.unary<{ text: string }>("Invoke", { agent: "echo", text: "/history", session: "s-1" });
    expect(h.ok && h.value.text).toBe("1 earlier turns\n1. hello");
    // the same caller over HTTP is in the same session
    const http = await fetch(`http://127.0.0.1:${claw.httpPort}/v1/agents/echo/invoke`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "/history", session: "s-1" }),
    });
    expect(((await http.json()) as { reply: { text: string } }).reply.text).toBe("2 earlier turns\n1. hello\n2. /history");

    // a retry with the same idempotency key is the same turn, answered with its reply
    const keyed = await g.unary<{ message_id: string; session: string; text: string }>("Invoke", { agent: "echo", text: "once", idempotency_key: "t-1" });
    const retried = await g.unary<{ message_id: string; session: string; text: string }>("Invoke", { agent: "echo", text: "once", idempotency_key: "t-1" });
    expect(keyed.ok && retried.ok && retried.value).toEqual(keyed.ok && keyed.value);
    const history = await g.unary<{ text: string }>("Invoke", { agent: "echo", text: "/history", session: keyed.ok ? keyed.value.session : "" });
    expect(history.ok && history.value.text, "one turn, not two").toBe("1 earlier turns\n1. once");

    const missing = await g.unary("Invoke", { agent: "nobody", text: "x" });
    expect(!missing.ok && missing.error.code).toBe(status.NOT_FOUND);
    const empty = await g.unary("Invoke", { agent: "echo", text: "" });
    expect(!empty.ok && empty.error.code).toBe(status.INVALID_ARGUMENT);
    expect(!empty.ok && empty.error.details).toMatch(/^text: /);
    expect(!empty.ok && empty.error.metadata.get("claw-field")).toEqual(["text"]);
    const tooLong = await g.unary("Invoke", { agent: "echo", text: "x", timeout_ms: 400_000 });
    expect(!tooLong.ok && tooLong.error.details).toMatch(/^timeout_ms: /);

    // timeout_ms, and the call's own deadline
    const slow = await g.unary("Invoke", { agent: "echo", text: "/slow 3000", timeout_ms: 300 });
    expect(!slow.ok && slow.error.code).toBe(status.DEADLINE_EXCEEDED);
    const t = Date.now();
    const late = await g.unary("Invoke", { agent: "echo", text: "/slow 3000" }, { deadlineMs: 300 });
    expect(!late.ok && late.error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(Date.now() - t).toBeLessThan(2_500);

    // a turn that failed for good: not a status clients retry, with the agent's code
    const failed = await g.unary("Invoke", { agent: "echo", text: "/fail on purpose" });
    expect(!failed.ok && failed.error.code).toBe(status.UNKNOWN);
    expect(!failed.ok && failed.error.metadata.get("claw-code")).toEqual(["scripted_fail"]);
  }, 60_000);

  it("Chat: the reply in pieces as the model writes them, then done with the whole text, and the stream ends OK", async () => {
    const r = await g.stream<{ delta: string; done: boolean; text: string }>("Chat", { agent: "assistant", text: "stream it" }, { deadlineMs: 30_000 });
    const whole = 'The answer to "stream it" is a sentence long enough to come in several pieces.';
    expect(r.status).toBe(status.OK);
    expect(r.messages.at(-1)).toEqual({ delta: "", done: true, text: whole });
    const pieces = r.messages.slice(0, -1);
    expect(pieces.length, "more than one piece: streamed, not sent at the end").toBeGreaterThan(2);
    expect(pieces.map((p) => p.delta).join("")).toBe(whole);
    expect(pieces.every((p) => !p.done)).toBe(true);
    const missing = await g.stream("Chat", { agent: "nobody", text: "x" });
    expect(missing.status).toBe(status.NOT_FOUND);
  }, 60_000);

  it("InvokeSkill: its output as JSON, NOT_FOUND for no such skill, INVALID_ARGUMENT naming the field", async () => {
    const r = await g.unary<{ output_json: string; duration_ms: number }>("InvokeSkill", { skill: "echo", input_json: JSON.stringify({ text: "ping" }) });
    expect(r.ok, r.ok ? "" : r.error.details).toBe(true);
    expect(JSON.parse(r.ok ? r.value.output_json : "null")).toEqual({ text: "ping" });
    const none = await g.unary("InvokeSkill", { skill: "no.such.skill", input_json: "{}" });
    expect(!none.ok && none.error.code).toBe(status.NOT_FOUND);
    const broken = await g.unary("InvokeSkill", { skill: "echo", input_json: "{not json" });
    expect(!broken.ok && broken.error.code).toBe(status.INVALID_ARGUMENT);
    expect(!broken.ok && broken.error.details).toMatch(/^input_json: /);
  }, 60_000);

  it("answers health and reflection", async () => {
    const h = healthClient(address);
    try {
      expect(await h.unary("Check", { service: "" })).toEqual({ ok: true, value: { status: "SERVING" } });
      expect(await h.unary("Check", { service: "claw.v1.Claw" })).toEqual({ ok: true, value: { status: "SERVING" } });
    } finally {
      h.close();
    }
    const r = await reflect(address, "claw.v1.Claw");
    expect(r.services).toEqual(expect.arrayContaining(["claw.v1.Claw", "grpc.health.v1.Health"]));
    // the serialized FileDescriptorProto: what grpcurl and Postman build their requests from
    const described = Buffer.concat(r.files).toString("latin1");
    for (const name of ["claw.v1", "Publish", "InvokeSkill", "Replies", "PublishRequest", "idempotency_key", "input_json"]) expect(described).toContain(name);
  }, 30_000);

  it("with NATS away: NOT_SERVING, and calls fail fast with UNAVAILABLE and retry info; SERVING again after", async () => {
    const h = healthClient(address);
    try {
      await nats.kill("SIGKILL");
      await untilHealth(h, "NOT_SERVING", 20_000);
      expect(await h.unary("Check", { service: "claw.v1.Claw" })).toEqual({ ok: true, value: { status: "NOT_SERVING" } });
      const t = Date.now();
      const r = await g.unary("Publish", { chat: "c2", text: "while away" });
      expect(Date.now() - t, "fails fast, as HTTP's 503").toBeLessThan(1_000);
      expect(!r.ok && r.error.code).toBe(status.UNAVAILABLE);
      if (r.ok) return;
      expect(r.error.metadata.get("retry-after")).toEqual(["2"]);
      expect(retryDelayS(r.error.metadata.get("grpc-status-details-bin")[0] as Buffer)).toBe(2);
      const inv = await g.unary("Invoke", { agent: "echo", text: "x" });
      expect(!inv.ok && inv.error.code).toBe(status.UNAVAILABLE);

      await nats.restart();
      await untilHealth(h, "SERVING", 30_000);
      expect(await g.unary("Invoke", { agent: "echo", text: "back" })).toMatchObject({ ok: true, value: { text: "back" } });
    } finally {
      h.close();
    }
  }, 90_000);
});

describe("gRPC off loopback: credentials, scopes and shared limits as HTTP's", () => {
  let nats: NatsServerProcess;
  let claw: ClawProcess;
  let g: TestGrpc;
  beforeAll(async () => {
    nats = await natsServer();
    const config = await channelConfig([], {
      agents: [{ id: "echo" }, { id: "other" }],
      rateLimits: { scopes: { "skills:invoke": { perSecond: 0.1, burst: 2 } } },
    });
    // every address: credentials are required, as on any address but loopback
    claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_HTTP_HOST: "0.0.0.0", CLAW_CONFIG: config } });
    g = clawClient(`127.0.0.1:${claw.grpcPort}`);
  }, 60_000);
  afterAll(async () => {
    g?.close();
    await claw?.[Symbol.asyncDispose]();
    await nats?.stop();
  });

  it("refuses a call without a credential or with a wrong one (UNAUTHENTICATED), and records it in the audit trail", async () => {
    const none = await g.unary("Invoke", { agent: "echo", text: "x" });
    expect(!none.ok && none.error.code).toBe(status.UNAUTHENTICATED);
    const wrong = await g.unary("Publish", { chat: "c", text: "x" }, { bearer: "claw_aaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    expect(!wrong.ok && wrong.error.code).toBe(status.UNAUTHENTICATED);
    const deadline = Date.now() + 10_000;
    let records: Array<{ what: string; outcome: string; who: string }> = [];
    while (Date.now() < deadline && !records.some((r) => r.what === "gRPC Invoke")) {
      const r = await runCli(["audit", "tail", "-n", "50", "--json"], { NATS_URL: nats.url });
      records = r.stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { what: string; outcome: string; who: string });
      await sleep(200);
    }
    expect(records.find((r) => r.what === "gRPC Invoke")).toMatchObject({ outcome: "UNAUTHENTICATED", who: "anonymous" });
  }, 60_000);

  it("lets a key in to exactly its scopes (PERMISSION_DENIED otherwise), its sessions its own", async () => {
    const echoOnly = await createKey(nats.url, "agents:invoke:echo");
    const writer = await createKey(nats.url, "messages:write");
    const ok = await g.unary<{ text: string; session: string }>("Invoke", { agent: "echo", text: "mine", session: "s" }, { bearer: echoOnly.key });
    expect(ok).toMatchObject({ ok: true, value: { text: "mine", session: "s" } });
    const other = await g.unary("Invoke", { agent: "other", text: "x" }, { bearer: echoOnly.key });
    expect(!other.ok && other.error.code).toBe(status.PERMISSION_DENIED);
    expect(!other.ok && other.error.details).toContain("agents:invoke:other");
    const publish = await g.unary("Publish", { chat: "c", text: "x" }, { bearer: echoOnly.key });
    expect(!publish.ok && publish.error.code).toBe(status.PERMISSION_DENIED);
    expect(await g.unary("Publish", { chat: "c", text: "x" }, { bearer: writer.key })).toMatchObject({ ok: true });
    // another key's "s" is another session: it does not see the first key's turn
    const both = await createKey(nats.url, "agents:invoke");
    const theirs = await g.unary<{ text: string }>("Invoke", { agent: "echo", text: "/history", session: "s" }, { bearer: both.key });
    expect(theirs.ok && theirs.value.text).toBe("0 earlier turns");
    const mine = await g.unary<{ text: string }>("Invoke", { agent: "echo", text: "/history", session: "s" }, { bearer: echoOnly.key });
    expect(mine.ok && mine.value.text).toBe("1 earlier turns\n1. mine");
    // every chat of an account is everyone's: a key must name its chat
    const all = await g.stream("Replies", { consumer: "x" }, { bearer: writer.key, deadlineMs: 5_000 });
    expect(all.status).toBe(status.PERMISSION_DENIED);
  }, 60_000);

  it("counts the shared rate limits: RESOURCE_EXHAUSTED with retry info past the burst", async () => {
    const key = await createKey(nats.url, "skills:invoke");
    const codes: number[] = [];
    let last: Awaited<ReturnType<TestGrpc["unary"]>> | undefined;
    for (let i = 0; i < 3; i++) {
      last = await g.unary("InvokeSkill", { skill: "echo", input_json: '{"text":"x"}' }, { bearer: key.key });
      codes.push(last.ok ? 0 : last.error.code);
    }
    expect(codes).toEqual([0, 0, status.RESOURCE_EXHAUSTED]);
    if (!last || last.ok) return;
    expect(Number(last.error.metadata.get("retry-after")[0])).toBeGreaterThan(0);
    expect(retryDelayS(last.error.metadata.get("grpc-status-details-bin")[0] as Buffer)).toBeGreaterThan(0);
    // the same buckets as HTTP's: the HTTP route is refused too
    const http = await fetch(`http://127.0.0.1:${claw.httpPort}/v1/skills/echo/invoke`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key.key}` },
      body: '{"input":{"text":"x"}}',
    });
    expect(http.status).toBe(429);
  }, 60_000);
});

describe("the gRPC port", () => {
  it("is a clear start error naming CLAW_GRPC_PORT when another process has it; off means none", async () => {
    await using nats = await natsServer();
    const port = await freePort();
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(port, "127.0.0.1", r));
    try {
      const r = await runClawExpectingFailure({ NATS_URL: nats.url, CLAW_GRPC_PORT: String(port) }, 30_000);
      expect(r.code).toBe(1);
      expect(r.output).toMatch(new RegExp(`claw: CLAW_GRPC_PORT: cannot listen on 127\\.0\\.0\\.1:${port}: another process uses this port`));
    } finally {
      squatter.close();
    }
    await using off = await startClaw({ env: { NATS_URL: nats.url, CLAW_GRPC_PORT: "off" } });
    expect(off.grpcPort).toBeUndefined();
  }, 60_000);
});
