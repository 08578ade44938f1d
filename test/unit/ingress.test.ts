import { describe, expect, it } from "vitest";
import { AgentSpecSchema, decideInbound, decideSessionMail, sessionPartition } from "../../src/actors/index.js";
import { chatPartition, encode, H, parseSessionSubject, partitionedInboundSubject, PROBE_CHANNEL, sessionSubject } from "../../src/bus/index.js";

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
    const envelope = {
      id: "x",
      ts: 1,
      channel: "slack",
      account: "T1",
      chat: "C1",
      sender: { id: "U7" },
      kind: "message",
      text: "hi",
      media: [],
      metadata: {},
      trace: {},
    };
    const base = { data: encode(envelope), header: () => undefined, seq: 1, idPrefix: "p", storedAt: 1 };
    expect(decideSessionMail({ ...base, subject: sessionSubject(3, "support", "slack:T1:@U7") }, agents)).toMatchObject({
      kind: "turn",
      session: "slack:T1:@U7",
    });
    expect(decideSessionMail({ ...base, subject: sessionSubject(3, "nobody", "s") }, agents)).toMatchObject({ kind: "dead", code: "no_agent" });
    expect(decideSessionMail({ ...base, data: encode({ id: "x" }), subject: sessionSubject(3, "support", "s") }, agents)).toMatchObject({ kind: "dead" });
  });
});

describe("which agent answers (F5, issue 26 item 2)", () => {
  const echoAll = AgentSpecSchema.parse({ id: "echo" });
  const internal = AgentSpecSchema.parse({ id: "internal", skills: ["bash"], bindings: [{ channel: "internal-only" }] });
  const decide = (
    addr: { channel: string; account: string; chat: string },
    body: Record<string, unknown>,
    list: ReturnType<typeof AgentSpecSchema.parse>[],
  ) => {
    const { m, ctx } = msg(addr, { text: "hi", sender: { id: "u" }, ...body });
    return decideInbound(m, { ...ctx, agents: list });
  };

  it("honours metadata.agent only for an agent bound there, or on the agent's own HTTP account", () => {
    // a shop's publisher (or a web chat) names an agent bound only to another channel: refused, with the reason
    expect(decide({ channel: "shop", account: "web", chat: "order-7" }, { metadata: { agent: "internal" } }, [echoAll, internal])).toMatchObject({
      kind: "dead",
      code: "agent_not_bound",
      field: "metadata.agent",
    });
    expect(decide({ channel: "ws", account: "web", chat: "s1" }, { metadata: { agent: "internal" } }, [internal, echoAll])).toMatchObject({
      kind: "dead",
      code: "agent_not_bound",
    });
    // where its bindings admit the message, naming it chooses it
    expect(decide({ channel: "internal-only", account: "a", chat: "c" }, { metadata: { agent: "internal" } }, [echoAll, internal])).toMatchObject({
      kind: "turn",
      agent: { id: "internal" },
    });
    // the gateway's invoke and chat completions publish on channel http, account = the agent: its own
    expect(decide({ channel: "http", account: "internal", chat: "s1" }, { metadata: { agent: "internal" } }, [echoAll, internal])).toMatchObject({
      kind: "turn",
      agent: { id: "internal" },
      session: "http:internal:s1",
    });
    // but another agent's HTTP account is not a way in
    expect(decide({ channel: "http", account: "echo", chat: "s1" }, { metadata: { agent: "internal" } }, [echoAll, internal])).toMatchObject({
      kind: "dead",
      code: "agent_not_bound",
    });
    // naming the agent that answers there anyway is fine, the default agent included
    expect(decide({ channel: "shop", account: "web", chat: "o" }, { metadata: { agent: "echo" } }, [echoAll, internal])).toMatchObject({
      kind: "turn",
      agent: { id: "echo" },
    });
    const unbound = AgentSpecSchema.parse({ id: "fallback", bindings: [] });
    const { m, ctx } = msg({ channel: "shop", account: "web", chat: "o" }, { text: "hi", sender: { id: "u" }, metadata: { agent: "fallback" } });
    expect(decideInbound(m, { ...ctx, agents: [internal, unbound], defaultAgent: "fallback" })).toMatchObject({ kind: "turn", agent: { id: "fallback" } });
  });

  it("prefers the most specific binding — chat, sender, account, channel, catch-all — whatever the priority", () => {
    // in registry order: the catch-all first (as the seeded echo once was), the most specific last
    const byChannel = AgentSpecSchema.parse({ id: "by-channel", bindings: [{ channel: "web" }] });
    const byAccount = AgentSpecSchema.parse({ id: "by-account", bindings: [{ channel: "web", account: "demo2" }] });
    const bySender = AgentSpecSchema.parse({ id: "by-sender", bindings: [{ sender: "vip" }] });
    const byChat = AgentSpecSchema.parse({ id: "by-chat", bindings: [{ chat: "c1" }] });
    const list = [echoAll, byChannel, byAccount, bySender, byChat];
    const who = (addr: { channel: string; account: string; chat: string }, sender: string) => {
      const d = decide(addr, { sender: { id: sender } }, list);
      return d.kind === "turn" ? d.agent.id : d.kind;
    };
    expect(who({ channel: "web", account: "demo2", chat: "c1" }, "vip")).toBe("by-chat");
    expect(who({ channel: "web", account: "demo2", chat: "c2" }, "vip")).toBe("by-sender");
    expect(who({ channel: "web", account: "demo2", chat: "c2" }, "u")).toBe("by-account");
    expect(who({ channel: "web", account: "other", chat: "c2" }, "u")).toBe("by-channel");
    expect(who({ channel: "tg", account: "bot", chat: "42" }, "u")).toBe("echo");
    // between equally specific bindings, the one naming more fields, then the registry's order
    const narrower = AgentSpecSchema.parse({ id: "narrower", bindings: [{ channel: "web", metadata: { tier: "gold" } }] });
    expect(decide({ channel: "web", account: "x", chat: "y" }, { metadata: { tier: "gold" } }, [byChannel, narrower])).toMatchObject({
      agent: { id: "narrower" },
    });
    const twin = AgentSpecSchema.parse({ id: "twin", bindings: [{ channel: "web" }] });
    expect(decide({ channel: "web", account: "x", chat: "y" }, {}, [twin, byChannel])).toMatchObject({ agent: { id: "twin" } });
  });
});

describe("session ids (F16)", () => {
  const session = (addr: { channel: string; account: string; chat: string }, sender = "u", agent = echo) => {
    const { m, ctx } = msg(addr, { text: "hi", sender: { id: sender } });
    const d = decideInbound(m, { ...ctx, agents: [agent] });
    if (d.kind === "turn") return d.session;
    if (d.kind === "forward") return parseSessionSubject(d.subject)!.session;
    throw new Error(`not routed: ${JSON.stringify(d)}`);
  };

  it("names one session per chat: parts that contain the separator are escaped", () => {
    const a = session({ channel: "a:b", account: "z", chat: "c" });
    const b = session({ channel: "a", account: "b:z", chat: "c" });
    expect(a).not.toBe(b);
    expect(session({ channel: "t", account: "x", chat: "a:b" })).not.toBe(session({ channel: "t", account: "x:a", chat: "b" }));
    // a chat that starts with @ is not a sender's session
    const bySender = AgentSpecSchema.parse({ id: "echo", scope: "sender" });
    expect(session({ channel: "t", account: "x", chat: "@u" })).not.toBe(session({ channel: "t", account: "x", chat: "other" }, "u", bySender));
    expect(session({ channel: "t", account: "x", chat: "%3A" })).not.toBe(session({ channel: "t", account: "x", chat: ":" }));
  });

  it("keeps ordinary ids byte-identical, so existing sessions survive an upgrade", () => {
    expect(session({ channel: "tg", account: "bot", chat: "-100123" })).toBe("tg:bot:-100123");
    expect(session({ channel: "whatsapp", account: "main", chat: "49151@s.whatsapp.net" })).toBe("whatsapp:main:49151@s.whatsapp.net");
    expect(session({ channel: "ws", account: "web", chat: "web-3f2a9c1e-77aa-4c1b-9d1e-0a1b2c3d4e5f" })).toBe(
      "ws:web:web-3f2a9c1e-77aa-4c1b-9d1e-0a1b2c3d4e5f",
    );
    expect(session({ channel: "slack", account: "T1", chat: "C04ABC.1712345678.000100" })).toBe("slack:T1:C04ABC.1712345678.000100");
    expect(session({ channel: "slack", account: "T1", chat: "C1" }, "U7", support)).toBe("slack:T1:@U7");
  });
});
