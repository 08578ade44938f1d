import { describe, expect, it } from "vitest";
import { completeInbound, decodeInbound, encode, EnvelopeError, parseEnvelope } from "../../src/bus/index.js";

const defaults = { id: "s-1", ts: 1_700_000_000_000, channel: "tg", account: "bot", chat: "42" };
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

function envelopeError(fn: () => unknown): EnvelopeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof EnvelopeError) return e;
    throw e;
  }
  throw new Error("expected an EnvelopeError");
}

describe("inbound envelope", () => {
  it("completes the minimal outside payload from the subject and defaults", () => {
    const e = completeInbound({ text: "hi", sender: { id: "u1" } }, defaults);
    expect(e).toEqual({ v: 1, ...defaults, sender: { id: "u1" }, kind: "message", text: "hi", media: [], metadata: {}, trace: {} });
  });

  it("reads what a newer writer wrote: fields it does not know are dropped, the version kept", () => {
    const newer = {
      v: 1,
      id: "m-1",
      ts: 1,
      channel: "t",
      account: "a",
      chat: "c",
      sender: { id: "u", avatar: "x.png" },
      kind: "message",
      text: "hi",
      media: [],
      metadata: {},
      trace: {},
      reactions: ["👍"],
      priority: 3,
    };
    const e = parseEnvelope(newer);
    expect(e).not.toHaveProperty("reactions");
    expect(e.sender).toEqual({ id: "u" });
    expect(e.v).toBe(1);
    // and what an older writer wrote, without a version
    const { v: _v, ...older } = newer;
    expect(parseEnvelope(older).v).toBeUndefined();
  });

  it("lets the subject's address win over the body", () => {
    const e = completeInbound({ text: "hi", sender: { id: "u" }, channel: "evil", chat: "other" }, defaults);
    expect([e.channel, e.chat]).toEqual(["tg", "42"]);
  });

  it("keeps publisher ids, timestamps and trace context", () => {
    const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const e = completeInbound({ id: "m-9", ts: 5, text: "x", sender: { id: "u" }, trace: { traceparent: tp } }, defaults);
    expect([e.id, e.ts, e.trace.traceparent]).toEqual(["m-9", 5, tp]);
  });

  it.each([
    [{ text: "hi" }, "sender"],
    [{ text: "hi", sender: {} }, "sender.id"],
    [{ sender: { id: "u" } }, "text"],
    [{ text: "", sender: { id: "u" } }, "text"],
    [{ text: 5, sender: { id: "u" } }, "text"],
    [{ text: "x", sender: { id: "u" }, media: [{ type: "hologram" }] }, "media.0.type"],
    [{ text: "x", sender: { id: "u" }, trace: { traceparent: "nope" } }, "trace.traceparent"],
  ])("names the offending field of %j", (body, field) => {
    const err = envelopeError(() => completeInbound(body, defaults));
    expect(err.reason).toBe("invalid_envelope");
    expect(err.field).toBe(field);
    expect(err.message).toContain(field);
  });

  it("accepts media without text", () => {
    const e = completeInbound({ sender: { id: "u" }, media: [{ type: "image", url: "https://x/y.png" }] }, defaults);
    expect(e.media).toHaveLength(1);
  });

  it("validates full envelopes", () => {
    const e = completeInbound({ text: "hi", sender: { id: "u" } }, defaults);
    expect(parseEnvelope(e)).toEqual(e);
    expect(envelopeError(() => parseEnvelope({ ...e, channel: "" })).field).toBe("channel");
  });
});

describe("decodeInbound", () => {
  it("sniffs JSON and msgpack", () => {
    expect(decodeInbound(json({ a: 1 }), undefined, 1024)).toEqual({ a: 1 });
    expect(decodeInbound(encode({ a: 1 }), undefined, 1024)).toEqual({ a: 1 });
    expect(decodeInbound(new TextEncoder().encode('  {"a":1}'), undefined, 1024)).toEqual({ a: 1 });
  });

  it("follows the content type", () => {
    expect(decodeInbound(encode({ a: 2 }), "application/msgpack", 1024)).toEqual({ a: 2 });
    expect(envelopeError(() => decodeInbound(encode({ a: 2 }), "application/json; charset=utf-8", 1024)).reason).toBe("bad_encoding");
  });

  it("rejects invalid JSON, non-objects and oversized payloads", () => {
    expect(envelopeError(() => decodeInbound(new TextEncoder().encode("{nope"), undefined, 1024)).reason).toBe("bad_encoding");
    expect(envelopeError(() => decodeInbound(new TextEncoder().encode("hello"), undefined, 1024)).reason).toBe("bad_encoding");
    expect(envelopeError(() => decodeInbound(new Uint8Array(2048).fill(0x7b), undefined, 1024)).reason).toBe("too_large");
  });
});
