/**
 * `@claw/sdk`'s parts that need no node: its subject tokens agree with the
 * node's on any id (the SDK keeps its own copy of the wire format's rule, as
 * it must not import the server), its webhook check takes what the node signs
 * and refuses anything else, its SSE reader does not care where the network
 * cut the stream, its retry rules send a call twice only when that is safe,
 * and its main entry imports nothing a browser lacks (no Node module; the
 * one package, @noble/hashes, is plain ES modules).
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeToken } from "../../src/bus/index.js";
import { signWebhook } from "../../src/webhooks/index.js";
import { Claw } from "../../sdk/typescript/src/client.js";
import { ClawError, errorOf } from "../../sdk/typescript/src/errors.js";
import { retryable, Transport } from "../../sdk/typescript/src/http.js";
import { sseEvents } from "../../sdk/typescript/src/sse.js";
import { MAX_TOKEN_LENGTH, subjectToken } from "../../sdk/typescript/src/subject.js";
import { verifyWebhook } from "../../sdk/typescript/src/webhooks.js";

const both = (s: string) => {
  let server: string | Error, sdk: string | Error;
  try {
    server = encodeToken(s);
  } catch (e) {
    server = e as Error;
  }
  try {
    sdk = subjectToken(s);
  } catch (e) {
    sdk = e as Error;
  }
  return { server, sdk };
};

describe("subject tokens", () => {
  it("are the node's on tricky ids: dots, spaces, wildcards, unicode, empty, the length limit", () => {
    const ids = ["", "a.b", "a b", "*", ">", "claw.in.>", "49151@s.whatsapp.net", "Grüße 👋🏽", "=", "=41", "\u0000\n", "-100123", "C04_ABC", "x".repeat(256)];
    for (const id of ids) {
      const { server, sdk } = both(id);
      expect(typeof sdk, id).toBe("string");
      expect(sdk, id).toBe(server);
      expect(sdk as string).toMatch(/^[A-Za-z0-9_=-]+$/);
    }
    expect(subjectToken("49151@s.whatsapp.net")).toBe("49151=40s=2Ewhatsapp=2Enet");
    // past the limit both refuse
    const long = both("é".repeat(MAX_TOKEN_LENGTH));
    expect(long.server).toBeInstanceOf(Error);
    expect(long.sdk).toBeInstanceOf(RangeError);
  });

  it("are the node's on any string (fast-check, full unicode)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 120 }), (s) => {
        const { server, sdk } = both(s);
        if (server instanceof Error) expect(sdk).toBeInstanceOf(Error);
        else expect(sdk).toBe(server);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("verifyWebhook", () => {
  const secret = "whsec_test";
  const body = JSON.stringify({ event: "reply", data: { text: "héllo" } });
  const now = 1_800_000_000;
  const signed = (ts = now, b = body) => ({
    "claw-webhook-id": "d-1",
    "claw-webhook-timestamp": String(ts),
    "claw-webhook-signature": signWebhook(secret, ts, b),
  });

  it("takes what the node signed, as text, bytes, or fetch Headers", async () => {
    expect(verifyWebhook({ secret, headers: signed(), body, nowS: now })).toBe(true);
    expect(verifyWebhook({ secret, headers: signed(), body: new TextEncoder().encode(body), nowS: now + 299 })).toBe(true);
    expect(verifyWebhook({ secret, headers: new Headers(signed()), body, nowS: now })).toBe(true);
  });

  it("refuses a changed body, another secret, a stale or future timestamp, a bad header, a replayed id", async () => {
    expect(verifyWebhook({ secret, headers: signed(), body: body.replace("héllo", "hello"), nowS: now })).toBe(false);
    expect(verifyWebhook({ secret: "other", headers: signed(), body, nowS: now })).toBe(false);
    expect(verifyWebhook({ secret, headers: signed(), body, nowS: now + 301 })).toBe(false);
    expect(verifyWebhook({ secret, headers: signed(), body, nowS: now - 301 })).toBe(false);
    // the timestamp is signed: moving it breaks the signature
    expect(verifyWebhook({ secret, headers: { ...signed(), "claw-webhook-timestamp": String(now + 1) }, body, nowS: now })).toBe(false);
    for (const signature of [
      "",
      "sha256=",
      "sha256=zz",
      signWebhook(secret, now, body).replace("sha256=", "sha1="),
      signWebhook(secret, now, body).slice(0, -2),
    ])
      expect(verifyWebhook({ secret, headers: { ...signed(), "claw-webhook-signature": signature }, body, nowS: now }), signature).toBe(false);
    expect(verifyWebhook({ secret, headers: { ...signed(), "claw-webhook-id": undefined }, body, nowS: now })).toBe(false);
    const seen = new Set<string>();
    expect(verifyWebhook({ secret, headers: signed(), body, nowS: now, seen })).toBe(true);
    expect(verifyWebhook({ secret, headers: signed(), body, nowS: now, seen })).toBe(false);
  });
});

describe("sseEvents", () => {
  it("reads the same events wherever the stream is cut, with \\n, \\r\\n or \\r line ends", async () => {
    const text = ': hello\r\ndata: {"a":1}\r\n\r\nevent: response.done\ndata: x\ndata: y\n\ndata:z\r\rdata: [DONE]\n\n';
    const want = [
      { event: undefined, data: '{"a":1}' },
      { event: "response.done", data: "x\ny" },
      { event: undefined, data: "z" },
      { event: undefined, data: "[DONE]" },
    ];
    const bytes = new TextEncoder().encode(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(bytes.slice(0, cut));
          c.enqueue(bytes.slice(cut));
          c.close();
        },
      });
      const got = [];
      for await (const e of sseEvents(stream)) got.push(e);
      expect(got, `cut at ${cut}`).toEqual(want);
    }
  });
});

describe("retries", () => {
  const e = (status: number, code: string) => new ClawError(status, code, "x");
  it("sends a call that is not safe twice only when the node did not take it", () => {
    for (const [err, safe, refused] of [
      [e(0, "network_error"), true, false],
      [e(0, "timeout"), true, false],
      [e(0, "connection_refused"), true, true],
      [e(429, "rate_limited"), true, true],
      [e(503, "unavailable"), true, true],
      [e(503, "storage_full"), true, true],
      [e(503, "agent_failed"), true, false],
      [e(500, "internal"), true, false],
      [e(504, "timeout"), true, false],
      [e(400, "invalid_body"), false, false],
      [e(404, "no_agent"), false, false],
    ] as const) {
      expect(retryable(err, "safe"), `${err.status} ${err.code} safe`).toBe(safe);
      expect(retryable(err, "refused"), `${err.status} ${err.code} refused`).toBe(refused);
    }
  });

  it("honours Retry-After and x-should-retry: false, and reads every error shape the node answers", async () => {
    let calls = 0;
    const answers = [
      new Response(JSON.stringify({ error: { code: "unavailable", message: "NATS away" } }), { status: 503, headers: { "retry-after": "0" } }),
      new Response(JSON.stringify({ message_id: "m", session: "s", reply: { text: "failed" }, error: { code: "llm_down", retryable: false } }), {
        status: 502,
        headers: { "x-should-retry": "false" },
      }),
    ];
    const t = new Transport({ fetch: async () => answers[calls++]!, retries: 5, backoffMs: 1 });
    const err = await t.send({ method: "POST", path: "/v1/agents/a/invoke", retry: "safe" }, "json").catch((x: unknown) => x);
    expect(calls).toBe(2);
    expect(err).toMatchObject({ status: 502, code: "llm_down", message: "failed" });
    expect(errorOf(404, "", { error: { message: "no model", type: "invalid_request_error", param: "model", code: "model_not_found" } }, "2")).toMatchObject({
      code: "model_not_found",
      field: "model",
      retryAfterMs: 2000,
    });
    expect(errorOf(400, "", { error: { code: "invalid_body", message: "chat: must not be empty", field: "chat" } }, null)).toMatchObject({ field: "chat" });
  });
});

describe("the main entry", () => {
  it("imports no Node module and no package but @noble/hashes: it runs in a browser (the bus side, @claw/sdk/bus, is Node's)", () => {
    const seen = new Set<string>();
    const outside: string[] = [];
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(new URL(file, import.meta.url), "utf8");
      for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gm)) {
        if (m[1]) continue; // types only: nothing at run time
        const spec = m[2]!;
        if (spec.startsWith(".")) walk(new URL(spec.replace(/\.js$/, ".ts"), new URL(file, import.meta.url)).pathname);
        else if (!spec.startsWith("@noble/hashes/")) outside.push(`${file}: ${spec}`);
      }
    };
    walk(new URL("../../sdk/typescript/src/index.ts", import.meta.url).pathname);
    expect(seen.size).toBeGreaterThan(4);
    expect(outside).toEqual([]);
    // and the bus entry is where Node and NATS are
    expect(readFileSync(new URL("../../sdk/typescript/src/bus.ts", import.meta.url), "utf8")).toMatch(/from "@nats-io\/jetstream"/);
  });
});

describe("agents.stream", () => {
  const sse = (text: string) => new Response(text, { headers: { "content-type": "text/event-stream" } });
  const chunk = (content: string) => `data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta: { content } }] })}\n\n`;
  const streamed = async (body: string) => {
    const claw = new Claw({ fetch: async () => sse(body), retries: 0 });
    const pieces: string[] = [];
    try {
      for await (const p of claw.agents.stream("a", { text: "hi" })) pieces.push(p);
      return { pieces };
    } catch (e) {
      return { pieces, error: e as ClawError };
    }
  };

  it("yields the pieces up to [DONE]; a failure told in the stream, or a stream cut short, is a ClawError", async () => {
    expect(await streamed(`${chunk("")}${chunk("Hel")}${chunk("lo")}data: [DONE]\n\n`)).toEqual({ pieces: ["Hel", "lo"] });
    const failed = await streamed(`${chunk("Hel")}data: ${JSON.stringify({ error: { message: "the model is down", code: "llm_unavailable" } })}\n\n`);
    expect(failed.pieces).toEqual(["Hel"]);
    expect(failed.error).toMatchObject({ name: "ClawError", code: "llm_unavailable", message: "the model is down" });
    const cut = await streamed(`${chunk("Hel")}`);
    expect(cut.pieces).toEqual(["Hel"]);
    expect(cut.error).toMatchObject({ name: "ClawError", status: 0, code: "network_error" });
  });
});
