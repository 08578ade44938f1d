import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useClawNode } from "../support/claw-fixture.js";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.js";
import { jsonBody } from "../support/replies.js";

/** A span as OTLP/HTTP JSON carries it (ids in hex). */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number; message?: string };
}

/** An OTLP/HTTP receiver: what an OpenTelemetry collector listens with on :4318. */
async function otlpReceiver(): Promise<{ url: string; spans: OtlpSpan[]; paths: string[]; close(): Promise<void> }> {
  const spans: OtlpSpan[] = [];
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      paths.push(`${req.method} ${req.url} ${req.headers["content-type"]}`);
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
      };
      for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}`, spans, paths, close: () => new Promise((r) => server.close(() => r())) };
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
let fake: FakeOpenAI;
let config: string;

beforeAll(async () => {
  receiver = await otlpReceiver();
  fake = await startFakeOpenAI();
  config = join(tmpdir(), `claw-tracing-${process.pid}.json`);
  await writeFile(
    config,
    JSON.stringify({
      providers: { fake: { baseURL: fake.baseURL, model: "m" } },
      agents: [{ id: "llm", model: "fake", bindings: [{ channel: "otel-llm" }] }, { id: "echo" }],
    }),
  );
});
afterAll(async () => {
  await receiver?.close();
  await fake?.close();
});
const f = useClawNode(() => ({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: "claw-under-test", CLAW_CONFIG: config }));

describe("OpenTelemetry traces over OTLP/HTTP", () => {
  it("exports one trace per message with a span per hop, continuing the publisher's trace", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const publisherSpan = "00f067aa0ba902b7";
    const h = natsHeaders();
    h.set("traceparent", `00-${traceId}-${publisherSpan}-01`);
    f.c.nc.publish("claw.in.otel.acct.chat-1", jsonBody({ id: "otel-1", text: "trace me", sender: { id: "u" } }), { headers: h });
    const reply = await f.out.waitFor("otel-1");

    const spans = await until("three spans of the trace", () => {
      const s = receiver.spans.filter((x) => x.traceId === traceId);
      return s.length >= 3 ? s : undefined;
    });
    expect(receiver.paths[0]).toMatch(/^POST \/v1\/traces application\/json/);
    expect(spans.map((s) => s.name).sort()).toEqual(["claw.ingress", "claw.out", "claw.session"]);
    const byName = Object.fromEntries(spans.map((s) => [s.name, s]));
    // a chain: publisher → ingress → session turn → reply publish
    expect(byName["claw.ingress"]!.parentSpanId).toBe(publisherSpan);
    expect(byName["claw.session"]!.parentSpanId).toBe(byName["claw.ingress"]!.spanId);
    expect(byName["claw.out"]!.parentSpanId).toBe(byName["claw.session"]!.spanId);
    // the reply on the bus names the span that published it
    expect(reply.trace.traceparent).toBe(`00-${traceId}-${byName["claw.out"]!.spanId}-01`);
    for (const s of spans) expect(BigInt(s.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(s.startTimeUnixNano));
    const attr = (s: OtlpSpan, k: string) => s.attributes.find((a) => a.key === k)?.value;
    expect(attr(byName["claw.session"]!, "claw.outcome")).toEqual({ stringValue: "answered" });
    expect(attr(byName["claw.ingress"]!, "messaging.message.id")).toEqual({ stringValue: "otel-1" });
  });

  it("exports a client span per provider call, a child of the turn's span", async () => {
    const traceId = "5cf92f3577b34da6a3ce929d0e0e4737";
    const h = natsHeaders();
    h.set("traceparent", `00-${traceId}-10f067aa0ba902b7-01`);
    f.c.nc.publish("claw.in.otel-llm.acct.chat-1", jsonBody({ id: "otel-llm-1", text: "ask the model", sender: { id: "u" } }), { headers: h });
    expect((await f.out.waitFor("otel-llm-1")).text).toBe("echo: ask the model");
    const spans = await until("four spans of the trace", () => {
      const s = receiver.spans.filter((x) => x.traceId === traceId);
      return s.length >= 4 ? s : undefined;
    });
    const llm = spans.find((s) => s.name === "claw.llm")!;
    const session = spans.find((s) => s.name === "claw.session")!;
    expect(llm.parentSpanId).toBe(session.spanId);
    expect(llm.kind).toBe(3); // SPAN_KIND_CLIENT
    expect(llm.attributes.find((a) => a.key === "claw.provider")?.value).toEqual({ stringValue: "fake" });
    expect(llm.attributes.find((a) => a.key === "gen_ai.usage.output_tokens")?.value).toEqual({ intValue: 5 });
  });

  it("starts a trace for a message published without one: the ingress span is its root", async () => {
    f.c.nc.publish("claw.in.otel.acct.chat-2", jsonBody({ id: "otel-2", text: "untraced", sender: { id: "u" } }));
    const reply = await f.out.waitFor("otel-2");
    const traceId = reply.trace.traceparent!.split("-")[1]!;
    const spans = await until("three spans of the new trace", () => {
      const s = receiver.spans.filter((x) => x.traceId === traceId);
      return s.length >= 3 ? s : undefined;
    });
    const roots = spans.filter((s) => !s.parentSpanId);
    expect(roots.map((s) => s.name)).toEqual(["claw.ingress"]);
  });

  it("marks the session span as an error when the turn fails", async () => {
    f.c.nc.publish("claw.in.otel.acct.chat-3", jsonBody({ id: "otel-3", text: "/fail boom", sender: { id: "u" } }));
    const notice = await f.out.waitFor("otel-3");
    expect(notice.kind).toBe("error");
    // the notice carries the failed turn's trace, and its session span is in that trace
    expect(notice.trace, "the error notice's trace").toMatchObject({ traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/) });
    const traceId = notice.trace.traceparent!.split("-")[1];
    const failed = await until("a failed session span", () =>
      receiver.spans.find((s) => s.name === "claw.session" && s.attributes.some((a) => a.key === "messaging.message.id" && a.value.stringValue === "otel-3")),
    );
    expect(failed.status?.code).toBe(2); // STATUS_CODE_ERROR
    expect(failed.traceId).toBe(traceId);
  });
});
