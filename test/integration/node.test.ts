import { describe, expect, it } from "vitest";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { STREAMS, H, sessionKey } from "../../src/bus/index.js";
import { watchActor } from "../support/actor-state.js";
import { useClawNode } from "../support/claw-fixture.js";
import { jsonBody } from "../support/replies.js";
import { loaded } from "../support/timing.js";

const http = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${f.claw.httpPort}${path}`, init);
const post = (path: string, body: unknown) =>
  http(path, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });

/** Reads the dead letters from CLAW_DLQ. */
async function deadLetters() {
  const consumer = await f.c.js.consumers.get(STREAMS.dlq); // ordered consumer: reads the whole stream
  const info = await f.c.jsm.streams.info(STREAMS.dlq);
  const out: Array<{ subject: string; data: Uint8Array; h: (k: string) => string }> = [];
  if (info.state.messages === 0) return out;
  const iter = await consumer.fetch({ max_messages: info.state.messages, expires: 2_000 });
  for await (const m of iter) {
    out.push({ subject: m.subject, data: m.data, h: (k) => m.headers?.get(k) ?? "" });
    if (out.length >= info.state.messages) break;
  }
  return out;
}

const f = useClawNode({ CLAW_MAX_PAYLOAD: "4096" });

describe("a node on a real nats-server", () => {
  it("uses the server's partition mapping", () => {
    expect(f.claw.logs.find((l) => l.msg === "claw node started")?.partitioning).toBe("mapped");
  });

  it("answers a JSON message from a stock NATS client at once (1 s promised, measured by the bench)", async () => {
    const t0 = performance.now();
    f.c.nc.publish("claw.in.demo.acct.chat-1", jsonBody({ id: "first-1", text: "hello claw", sender: { id: "alice" } }));
    const reply = await f.out.waitFor("first-1", loaded(1_000));
    expect(reply.at - t0).toBeLessThan(loaded(1_000));
    expect(reply).toMatchObject({
      subject: "claw.out.demo.acct.chat-1",
      kind: "reply",
      text: "hello claw",
      replyTo: "first-1",
      chat: "chat-1",
      sender: { id: "echo" },
    });
  });

  it("carries the trace from claw.in to claw.out: the reply is a child span of the message", async () => {
    const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const h = natsHeaders();
    h.set("traceparent", tp);
    f.c.nc.publish("claw.in.demo.acct.traced", jsonBody({ id: "tr-1", text: "trace me", sender: { id: "u" } }), { headers: h });
    const reply = await f.out.waitFor("tr-1");
    const [, traceId, spanId] = reply.trace.traceparent!.split("-");
    expect(traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(spanId).not.toBe("00f067aa0ba902b7");
    f.c.nc.publish("claw.in.demo.acct.traced", jsonBody({ id: "tr-2", text: "no trace given", sender: { id: "u" } }));
    expect((await f.out.waitFor("tr-2")).trace.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it("keeps per-chat order for a burst of messages", async () => {
    const n = 60;
    for (let i = 0; i < n; i++) {
      for (const chat of ["o1", "o2", "o3"]) f.c.nc.publish(`claw.in.demo.acct.${chat}`, jsonBody({ id: `${chat}-${i}`, text: `${i}`, sender: { id: "u" } }));
    }
    for (const chat of ["o1", "o2", "o3"]) await f.out.waitFor(`${chat}-${n - 1}`, 15_000);
    for (const chat of ["o1", "o2", "o3"]) {
      const texts = f.out.replies.filter((r) => r.chat === chat).map((r) => Number(r.text));
      expect(texts).toEqual(Array.from({ length: n }, (_, i) => i));
    }
  });

  it("remembers the session across turns", async () => {
    for (const [id, text] of [
      ["h1", "one"],
      ["h2", "two"],
    ]) {
      f.c.nc.publish("claw.in.demo.acct.hist", jsonBody({ id, text, sender: { id: "u" } }));
      await f.out.waitFor(id);
    }
    f.c.nc.publish("claw.in.demo.acct.hist", jsonBody({ id: "h3", text: "/history", sender: { id: "u" } }));
    expect((await f.out.waitFor("h3")).text).toBe("2 earlier turns\n1. one\n2. two");
  });

  it("dead-letters bad input with the reason and the original bytes, and keeps serving", async () => {
    const before = (await deadLetters()).length;
    const garbage = new TextEncoder().encode("{this is not json");
    const h = natsHeaders();
    h.set(H.msgId, "bad-json-1");
    f.c.nc.publish("claw.in.demo.acct.bad", garbage, { headers: h });
    f.c.nc.publish("claw.in.demo.acct.bad", jsonBody({ text: "no sender" }));
    f.c.nc.publish("claw.in.demo.acct.bad", jsonBody({ text: "x".repeat(5000), sender: { id: "u" } }));
    f.c.nc.publish("claw.in.demo.acct.bad", jsonBody({ id: "after-bad", text: "still here", sender: { id: "u" } }));
    expect((await f.out.waitFor("after-bad")).text).toBe("still here");
    let dl = await deadLetters();
    for (let i = 0; i < 50 && dl.length < before + 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
      dl = await deadLetters();
    }
    const mine = dl.slice(before);
    expect(mine.map((d) => d.h(H.dlq.code)).sort()).toEqual(["bad_encoding", "invalid_envelope", "too_large"]);
    const json = mine.find((d) => d.h(H.dlq.code) === "bad_encoding")!;
    expect(json.subject).toBe("claw.dlq.ingress");
    expect(new TextDecoder().decode(json.data)).toBe("{this is not json");
    expect(json.h(H.dlq.reason)).toMatch(/invalid JSON/);
    expect(json.h(H.dlq.subject)).toMatch(/^claw\.in\.\d+\.demo\.acct\.bad$/);
    expect(json.h(H.dlq.stage)).toBe("ingress");
    expect(json.h(H.dlq.deliveries)).toBe("1");
    expect(mine.find((d) => d.h(H.dlq.code) === "invalid_envelope")!.h(H.dlq.field)).toBe("sender");
    // the log line about it names the message, its partition and the actor that dropped it
    const [logged] = await f.claw.waitForLogs((l) => l.msg === "message.dead" && l.msg_id === "bad-json-1");
    expect(logged).toMatchObject({ level: 40, code: "bad_encoding", stage: "ingress" });
    expect(logged!.partition).toEqual(Number(/^claw\.in\.(\d+)\./.exec(json.h(H.dlq.subject))![1]));
    expect(logged!.actor).toBe(`ingress/p${logged!.partition}`);
    // the publisher that set a msg id also gets an error notice it can match
    expect((await f.out.waitFor("bad-json-1")).kind).toBe("error");
  });

  it("dead-letters a permanent model failure and tells the sender", async () => {
    f.c.nc.publish("claw.in.demo.acct.failing", jsonBody({ id: "fail-1", text: "/fail on purpose", sender: { id: "u" } }));
    const notice = await f.out.waitFor("fail-1");
    expect(notice.kind).toBe("error");
    expect(notice.text).toContain("on purpose");
    const dl = await deadLetters();
    expect(dl.some((d) => d.subject === "claw.dlq.session" && d.h(H.dlq.code) === "scripted_fail")).toBe(true);
  });

  describe("HTTP", () => {
    it("reports health and readiness", async () => {
      expect((await http("/healthz")).status).toBe(200);
      const ready = await http("/readyz");
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: "ready" });
    });

    it("accepts POST /v1/messages with 202 and a message id; the reply goes to claw.out", async () => {
      const res = await post("/v1/messages", { channel: "web", chat: "w1", text: "via http", sender: { id: "bob" } });
      expect(res.status).toBe(202);
      const { message_id } = (await res.json()) as { message_id: string };
      const reply = await f.out.waitFor(message_id);
      expect(reply).toMatchObject({ subject: "claw.out.web.default.w1", text: "via http" });
    });

    it("honours idempotency_key: a retry is absorbed and answered once", async () => {
      const body = { channel: "web", chat: "idem", text: "once", idempotency_key: "key-123" };
      const a = await post("/v1/messages", body);
      const b = await post("/v1/messages", body);
      expect([a.status, b.status]).toEqual([202, 202]);
      expect(await a.json()).toEqual({ message_id: "key-123", duplicate: false });
      expect(await b.json()).toEqual({ message_id: "key-123", duplicate: true });
      await f.out.waitFor("key-123");
      await new Promise((r) => setTimeout(r, 300));
      expect(f.out.replies.filter((r) => r.replyTo === "key-123")).toHaveLength(1);
    });

    it("answers 400 naming the offending field, and 400 for broken JSON", async () => {
      const missing = await post("/v1/messages", { channel: "web", text: "no chat" });
      expect(missing.status).toBe(400);
      expect(await missing.json()).toMatchObject({ error: { code: "invalid_body", field: "chat" } });
      const noText = await post("/v1/messages", { chat: "c", sender: { id: "u" } });
      expect(noText.status).toBe(400);
      expect(await noText.json()).toMatchObject({ error: { field: "text" } });
      const broken = await post("/v1/messages", "{oops");
      expect(broken.status).toBe(400);
      expect(await broken.json()).toMatchObject({ error: { code: "bad_json" } });
      const big = await post("/v1/messages", { chat: "c", text: "x".repeat(5000) });
      expect(big.status).toBe(413);
    });

    it("invokes an agent and returns its reply", async () => {
      const res = await post("/v1/agents/echo/invoke", { text: "ping", session: "inv-1" });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ session: "inv-1", reply: { kind: "reply", text: "ping" } });
      const again = await post("/v1/agents/echo/invoke", { text: "/history", session: "inv-1" });
      expect(((await again.json()) as { reply: { text: string } }).reply.text).toBe("1 earlier turns\n1. ping");
    });

    it("returns 404 for an unknown agent and 502 when the agent fails", async () => {
      expect((await post("/v1/agents/nobody/invoke", { text: "x" })).status).toBe(404);
      const failed = await post("/v1/agents/echo/invoke", { text: "/fail nope" });
      expect(failed.status).toBe(502);
      expect(await failed.json()).toMatchObject({ reply: { kind: "error" } });
    });
  });

  it("stops gracefully on SIGTERM", async () => {
    const session = await watchActor(f.c.nc, "session", sessionKey("echo", "demo:acct:slow"));
    f.c.nc.publish("claw.in.demo.acct.slow", jsonBody({ id: "slow-1", text: "/slow 500", sender: { id: "u" } }));
    // SIGTERM during the turn: the session is thinking (the model sleeps 500 ms)
    await session.until("thinking");
    session.stop();
    expect(
      f.out.replies.some((r) => r.replyTo === "slow-1"),
      "no reply before the SIGTERM",
    ).toBe(false);
    const code = await f.claw.kill("SIGTERM");
    expect(code).toBe(0);
    // the in-flight turn was finished before exit, not abandoned
    expect((await f.out.waitFor("slow-1", 1_000)).text).toBe("slept 500 ms");
    expect(f.claw.output()).toContain('"msg":"stopped"');
  });
});
