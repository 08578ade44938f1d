/**
 * A property-based fuzz of the inbound path's parsing (fast-check): whatever
 * bytes an outside publisher sends on `claw.in`, decoding and completing them
 * either yields a valid envelope that can be encoded onto the bus, or throws
 * an EnvelopeError (which the ingress dead-letters with its reason) — never
 * anything else, and never hangs.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { completeInbound, decodeInbound, encode, EnvelopeError, EnvelopeSchema } from "../../src/bus/index.js";

const defaults = { id: "m-1", ts: 1_700_000_000_000, channel: "t", account: "a", chat: "c" };

/** Parses as the ingress does; returns "ok" or the EnvelopeError's reason, and fails on anything else. */
function parse(bytes: Uint8Array, contentType?: string): string {
  try {
    const e = completeInbound(decodeInbound(bytes, contentType, 64 * 1024), defaults);
    expect(EnvelopeSchema.safeParse(e).success).toBe(true);
    encode(e);
    return "ok";
  } catch (err) {
    if (!(err instanceof EnvelopeError)) throw new Error(`not an EnvelopeError: ${String(err)}`, { cause: err });
    return err.reason;
  }
}

const contentTypes = fc.option(fc.constantFrom("application/json", "application/msgpack", "text/plain", "application/json; charset=utf-8"), { nil: undefined });
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe("the inbound parser under fuzzing", () => {
  it("takes any bytes: an envelope or an EnvelopeError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), contentTypes, (bytes, ct) => void parse(bytes, ct)),
      { numRuns: 3_000 },
    );
  });

  it("takes any JSON object shaped almost like an inbound message", () => {
    const field = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 3 }));
    const message = fc.record(
      {
        id: field,
        ts: fc.oneof(fc.integer(), fc.double(), field),
        sender: fc.oneof(
          { weight: 4, arbitrary: fc.record({ id: fc.string({ minLength: 1, maxLength: 300 }), name: fc.option(fc.string(), { nil: undefined }) }) },
          { weight: 1, arbitrary: field },
        ),
        kind: fc.oneof({ weight: 4, arbitrary: fc.constantFrom("message", "reply", "event", "error") }, { weight: 1, arbitrary: field }),
        text: fc.oneof({ weight: 2, arbitrary: fc.string() }, { weight: 2, arbitrary: fc.string({ unit: "binary" }) }, { weight: 1, arbitrary: field }),
        media: fc.oneof(fc.array(fc.record({ type: fc.constantFrom("image", "file", "x"), url: fc.option(fc.webUrl()) })), field),
        metadata: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 4 })), field),
        trace: fc.oneof(fc.record({ traceparent: fc.string() }), field),
      },
      { requiredKeys: [] },
    );
    // and messages that are valid but for what the fuzz changes in them
    const valid = fc.record(
      {
        sender: fc.record({ id: fc.string({ minLength: 1, maxLength: 100 }) }),
        text: fc.string({ minLength: 1 }),
        metadata: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })),
        media: fc.array(fc.record({ type: fc.constantFrom("image", "file"), url: fc.webUrl() }), { maxLength: 3 }),
      },
      { requiredKeys: ["sender", "text"] },
    );
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.oneof(message, valid), (m) => {
        seen.add(parse(json(m), "application/json"));
        seen.add(parse(encode(m), "application/msgpack"));
      }),
      { numRuns: 3_000 },
    );
    // the fuzz reached both sides
    expect(seen.has("ok")).toBe(true);
    expect(seen.has("invalid_envelope")).toBe(true);
  });

  it("refuses what nests too deep, without walking into a stack overflow", () => {
    const deep = `${'{"d":'.repeat(10_000)}"bottom"${"}".repeat(10_000)}`;
    expect(parse(new TextEncoder().encode(`{"sender":{"id":"u"},"text":"x","metadata":${deep}}`))).toBe("too_deep");
    // just within the limit is taken
    const fine = `${'{"d":'.repeat(30)}"bottom"${"}".repeat(30)}`;
    expect(parse(new TextEncoder().encode(`{"sender":{"id":"u"},"text":"x","metadata":${fine}}`))).toBe("ok");
    let arrays = "0";
    for (let i = 0; i < 20_000; i++) arrays = `[${arrays}]`;
    expect(parse(new TextEncoder().encode(`{"sender":{"id":"u"},"text":"x","metadata":{"a":${arrays}}}`))).toBe("too_deep");
    expect(parse(json({ sender: { id: "u" }, text: "\ud800 lone surrogate" }))).toBe("ok");
    expect(parse(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]))).toBe("bad_encoding");
  });
});
