/**
 * `completeInbound` parses an outside payload once and checks what the bus
 * supplies (ids and traceparents from headers, the address from the subject,
 * the time) by hand instead of parsing the completed envelope a second time.
 * These hold it to the two-parse definition — the same envelope, own keys
 * and all, or the same EnvelopeError word for word — over generated payloads
 * and defaults, including the defaults only the second parse used to check.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { completeInbound, ENVELOPE_VERSION, envelopeErrorFrom, InboundInputSchema, parseEnvelope, type InboundDefaults } from "../../src/bus/index.js";

/** The definition: the payload parsed, completed, and the whole envelope parsed again. */
function reference(value: unknown, d: InboundDefaults) {
  const r = InboundInputSchema.safeParse(value);
  if (!r.success) throw envelopeErrorFrom(r.error);
  const i = r.data;
  const traceparent = i.trace?.traceparent ?? d.traceparent;
  return parseEnvelope({
    v: ENVELOPE_VERSION,
    id: i.id ?? d.id,
    ts: i.ts ?? d.ts,
    channel: d.channel,
    account: d.account,
    chat: d.chat,
    sender: i.sender,
    kind: i.kind ?? "message",
    text: i.text,
    media: i.media ?? [],
    replyTo: i.replyTo,
    metadata: i.metadata ?? {},
    trace: traceparent ? { traceparent } : {},
  });
}

type Outcome = { ok: unknown; keys: string[] } | { error: string; reason: string; field?: string };
function outcome(f: () => unknown): Outcome {
  try {
    const e = f() as Record<string, unknown>;
    return { ok: e, keys: Object.keys(e) };
  } catch (err) {
    const e = err as { message: string; reason: string; field?: string };
    return { error: e.message, reason: e.reason, field: e.field };
  }
}

const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const long = "x".repeat(201);

describe("completeInbound", () => {
  it("rejects, as the envelope schema does, what only the bus supplied", () => {
    const ok = { id: "m-1", ts: 1_700_000_000_000, channel: "t", account: "a", chat: "c" };
    const body = { text: "hi", sender: { id: "u" } };
    const cases: Array<[string, InboundDefaults, string]> = [
      ["an id from a header over 200 characters", { ...ok, id: long }, "id"],
      ["an empty id", { ...ok, id: "" }, "id"],
      ["a traceparent header that is not one", { ...ok, traceparent: "00-nope" }, "trace.traceparent"],
      ["a chat over 200 characters", { ...ok, chat: long }, "chat"],
      ["an empty account", { ...ok, account: "" }, "account"],
      ["a channel over 200 characters", { ...ok, channel: long }, "channel"],
      ["a time that is not an integer", { ...ok, ts: 1.5 }, "ts"],
      ["a negative time", { ...ok, ts: -1 }, "ts"],
      ["a time past the safe integers", { ...ok, ts: 2 ** 60 }, "ts"],
    ];
    for (const [what, d, field] of cases) {
      const got = outcome(() => completeInbound(body, d));
      expect(got, what).toEqual(outcome(() => reference(body, d)));
      expect(got, what).toMatchObject({ reason: "invalid_envelope", field });
    }
    // the body's own traceparent wins over the header's, checked by the first parse
    expect(completeInbound({ ...body, trace: { traceparent: TRACEPARENT } }, { ...ok, traceparent: "bad" }).trace).toEqual({ traceparent: TRACEPARENT });
    expect(outcome(() => completeInbound({ sender: { id: "u" } }, ok))).toMatchObject({ field: "text", error: "text: a message needs text or media" });
  });

  it("gives what the two parses gave, for any payload and defaults", () => {
    const str = fc.oneof(fc.string({ maxLength: 3 }), fc.string({ minLength: 198, maxLength: 202 }), fc.constantFrom("", "m-1"));
    const defaults = fc.record(
      {
        id: str,
        ts: fc.oneof(fc.nat(), fc.integer({ min: -5, max: -1 }), fc.double(), fc.constant(2 ** 60)),
        channel: str,
        account: str,
        chat: str,
        traceparent: fc.oneof(fc.constantFrom(TRACEPARENT, "", "00-bad", TRACEPARENT.toUpperCase()), fc.string({ maxLength: 60 })),
      },
      { requiredKeys: ["id", "ts", "channel", "account", "chat"] },
    );
    const payload = fc.record(
      {
        id: fc.oneof(str, fc.integer()),
        ts: fc.oneof(fc.nat(), fc.double()),
        sender: fc.oneof({ weight: 5, arbitrary: fc.record({ id: fc.string({ minLength: 1, maxLength: 10 }) }) }, { weight: 1, arbitrary: fc.jsonValue() }),
        kind: fc.constantFrom("message", "reply", "event", "error", "other"),
        text: fc.oneof(fc.string({ maxLength: 5 }), fc.constant(undefined)),
        media: fc.array(fc.record({ type: fc.constantFrom("image", "file", "x"), url: fc.option(fc.webUrl(), { nil: undefined }) }), { maxLength: 2 }),
        replyTo: fc.oneof(fc.string({ maxLength: 3 }), fc.constant(long)),
        metadata: fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 }),
        trace: fc.oneof(fc.record({ traceparent: fc.constantFrom(TRACEPARENT, "x") }, { requiredKeys: [] }), fc.constant(undefined)),
      },
      { requiredKeys: ["sender"] },
    );
    fc.assert(
      fc.property(payload, defaults, (v, d) => {
        expect(outcome(() => completeInbound(v, d))).toEqual(outcome(() => reference(v, d)));
      }),
      { numRuns: 5_000 },
    );
  });
});
