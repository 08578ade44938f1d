import { describe, expect, it } from "vitest";
import { AgentSpecSchema, decideInbound, decideSessionMail, sessionPartition } from "../../src/actors/index.js";
import { chatPartition, encode, H, partitionedInboundSubject, PROBE_CHANNEL, sessionSubject } from "../../src/bus/index.js";

const echo = AgentSpecSchema.parse({ id: "echo" });
const support = AgentSpecSchema.parse({ id: "support", scope: "sender", bindings: [{ channel: "slack" }] });
const agents = [support, echo];
const P = 64;

function msg(addr: { channel: string; account: string; chat: string }, body: unknown, headers: Record<string, string> = {}) {
  const data = typeof body === "string" ? new TextEncoder().encode(body) : new TextEncoder().encode(JSON.stringify(body));
  const p = chatPartition(addr, P);
  return {
    m: { subject: partitionedInboundSubject(p, addr), data, header: (n: string) => headers[n], seq: 7, idPrefix: "abc", storedAt: 1000 },
    ctx: { agents, partitions: P, partition: p, maxPayload: 1024 },
  };
}

describe("ingress", () => {
  it("routes a valid message to its chat session in the same partition", () => {
    const { m, ctx } = msg({ channel: "tg", account: "bot", chat: "42" }, { text: "hi", sender: { id: "u" } });
    const d = decideInbound(m, ctx);
    expect(d).toMatchObject({ kind: "turn", session: "tg:bot:42", envelope: { id: "abc-7", ts: 1000, text: "hi" } });
    expect(d.kind === "turn" && d.agent.id).toBe("echo");
  });

  it("starts a trace for a message without one, the same on every redelivery, and continues a given one", () => {
    const { m, ctx } = msg({ channel: "tg", account: "bot", chat: "42" }, { text: "hi", sender: { id: "u" } });
    const a = decideInbound(m, ctx);
    const b = decideInbound(m, ctx);
    const tp = a.kind === "turn" ? a.envelope.trace.traceparent : undefined;
    expect(tp).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(b.kind === "turn" && b.envelope.trace.traceparent).toBe(tp);
    const given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const withTrace = msg({ channel: "tg", account: "bot", chat: "42" }, { text: "hi", sender: { id: "u" } }, { traceparent: given });
    const d = decideInbound(withTrace.m, withTrace.ctx);
    // the envelope carries the ingress span: same trace, a new span whose parent is the publisher's
    expect(d).toMatchObject({ traceParent: given });
    const [, traceId, spanId] = (d.kind === "turn" ? d.envelope.trace.traceparent! : "").split("-");
    expect(traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(spanId).not.toBe("b7ad6b7169203331");
  });

  it("uses the publisher's Nats-Msg-Id as the message id", () => {
    const { m, ctx } = msg({ channel: "tg", account: "bot", chat: "42" }, { text: "hi", sender: { id: "u" } }, { [H.msgId]: "ext-1" });
    expect(decideInbound(m, ctx)).toMatchObject({ envelope: { id: "ext-1" } });
  });

  it("dead-letters invalid payloads with the reason and field", () => {
    const bad = msg({ channel: "tg", account: "bot", chat: "42" }, { text: "hi" });
    expect(decideInbound(bad.m, bad.ctx)).toMatchObject({ kind: "dead", code: "invalid_envelope", field: "sender" });
    const garbage = msg({ channel: "tg", account: "bot", chat: "42" }, "{not json");
    expect(decideInbound(garbage.m, garbage.ctx)).toMatchObject({ kind: "dead", code: "bad_encoding" });
    const big = msg({ channel: "tg", account: "bot", chat: "42" }, { text: "x".repeat(2000), sender: { id: "u" } });
    expect(decideInbound(big.m, big.ctx)).toMatchObject({ kind: "dead", code: "too_large" });
  });

  it("dead-letters a message no agent is bound to, or naming an unknown agent", () => {
    const only = [support];
    const { m, ctx } = msg({ channel: "tg", account: "bot", chat: "42" }, { text: "hi", sender: { id: "u" } });
    expect(decideInbound(m, { ...ctx, agents: only })).toMatchObject({ kind: "dead", code: "no_agent" });
    const named = msg({ channel: "tg", account: "bot", chat: "42" }, { text: "hi", sender: { id: "u" }, metadata: { agent: "ghost" } });
    expect(decideInbound(named.m, named.ctx)).toMatchObject({ kind: "dead", code: "no_agent", field: "metadata.agent" });
  });

  it("drops the start-up probe", () => {
    const { m, ctx } = msg({ channel: PROBE_CHANNEL, account: "n", chat: "x" }, "");
    expect(decideInbound(m, ctx)).toEqual({ kind: "drop", why: "probe" });
  });

  it("forwards a sender-scoped session living in another partition to its mailbox", () => {
    // find a chat whose partition differs from the sender session's partition
    for (let i = 0; i < 100; i++) {
      const addr = { channel: "slack", account: "T1", chat: `C${i}` };
      const { m, ctx } = msg(addr, { text: "hi", sender: { id: "U7" } });
      const target = sessionPartition(support, "slack:T1:@U7", { ...addr } as never, P);
      const d = decideInbound(m, ctx);
      if (target === ctx.partition) {
        expect(d.kind).toBe("turn");
        continue;
      }
      expect(d).toMatchObject({ kind: "forward", subject: sessionSubject(target, "support", "slack:T1:@U7"), msgId: "abc-7:fwd" });
      return;
    }
    throw new Error("no chat in another partition found");
  });

  it("accepts forwarded mail for a known agent and rejects the rest", () => {
    const envelope = { id: "x", ts: 1, channel: "slack", account: "T1", chat: "C1", sender: { id: "U7" }, kind: "message", text: "hi", media: [], metadata: {}, trace: {} };
    const base = { data: encode(envelope), header: () => undefined, seq: 1, idPrefix: "p", storedAt: 1 };
    expect(decideSessionMail({ ...base, subject: sessionSubject(3, "support", "slack:T1:@U7") }, agents)).toMatchObject({ kind: "turn", session: "slack:T1:@U7" });
    expect(decideSessionMail({ ...base, subject: sessionSubject(3, "nobody", "s") }, agents)).toMatchObject({ kind: "dead", code: "no_agent" });
    expect(decideSessionMail({ ...base, data: encode({ id: "x" }), subject: sessionSubject(3, "support", "s") }, agents)).toMatchObject({ kind: "dead" });
  });
});
