import { describe, expect, it } from "vitest";
import {
  actorEventSubject,
  dlqSubject,
  inboundPartitionMapping,
  kvKeySubject,
  nodePingSubject,
  parseDlqSubject,
  parseKvKeySubject,
  parseWsTakeoverSubject,
  wildcards,
  wsTakeoverSubject,
  subjectFamily,
  decodeToken,
  encodeToken,
  inboundSubject,
  InvalidSubjectError,
  isLiteralToken,
  outboundSubject,
  parseInboundSubject,
  parseOutboundSubject,
  parseSessionSubject,
  partitionedInboundSubject,
  sessionKey,
  sessionSubject,
} from "../../src/bus/index.js";

const hostile = [
  "a.b",
  "*",
  ">",
  "a b",
  "tab\there",
  "line\nbreak",
  "",
  "=",
  "=41",
  "ünïcødé",
  "日本語",
  "emoji 🦀",
  "a..b",
  ".",
  "-100123",
  "+4915112345678",
  "user@s.whatsapp.net",
  "x".repeat(60),
];

describe("subject tokens", () => {
  it.each(hostile)("round-trips %j through one literal token", (value) => {
    const token = encodeToken(value);
    expect(isLiteralToken(token)).toBe(true);
    expect(token).toMatch(/^[A-Za-z0-9_=-]+$/); // also a valid KV key segment
    expect(decodeToken(token)).toBe(value);
  });

  it("leaves ordinary ids unchanged on the wire", () => {
    for (const v of ["12345", "-100123", "C04ABCDEF", "bot_1", "default"]) expect(encodeToken(v)).toBe(v);
  });

  it("encodes every character that would break a subject", () => {
    expect(encodeToken("a.b")).toBe("a=2Eb");
    expect(encodeToken("*")).toBe("=2A");
    expect(encodeToken(">")).toBe("=3E");
    expect(encodeToken(" ")).toBe("=20");
    expect(encodeToken("")).toBe("=");
  });

  it("takes characters an outside publisher used literally", () => {
    expect(decodeToken("a+b")).toBe("a+b");
    expect(decodeToken("50=off")).toBe("50=off");
  });

  it("refuses a token longer than the limit", () => {
    expect(() => encodeToken("é".repeat(200))).toThrow(InvalidSubjectError);
  });
});

describe("subject builders", () => {
  const addr = { channel: "telegram", account: "bot.1", chat: "chat *" };

  it("builds inbound and outbound subjects with exactly one token per field", () => {
    expect(inboundSubject(addr)).toBe("claw.in.telegram.bot=2E1.chat=20=2A");
    expect(outboundSubject(addr)).toBe("claw.out.telegram.bot=2E1.chat=20=2A");
    expect(inboundSubject(addr).split(".")).toHaveLength(5);
  });

  it("parses what it builds", () => {
    expect(parseInboundSubject(inboundSubject(addr))).toEqual(addr);
    expect(parseInboundSubject(partitionedInboundSubject(7, addr))).toEqual({ ...addr, partition: 7 });
    expect(parseOutboundSubject(outboundSubject(addr))).toEqual(addr);
    expect(parseSessionSubject(sessionSubject(3, "echo", "tg:1:@u.x"))).toEqual({ partition: 3, agent: "echo", session: "tg:1:@u.x" });
  });

  it("rejects subjects of other shapes", () => {
    expect(parseInboundSubject("claw.in.a.b")).toBeUndefined();
    expect(parseInboundSubject("claw.out.a.b.c")).toBeUndefined();
    expect(parseInboundSubject("claw.in.x.a.b.c")).toBeUndefined();
    expect(parseSessionSubject("claw.session.a.b.c")).toBeUndefined();
  });

  it("refuses an invalid partition", () => {
    expect(() => partitionedInboundSubject(-1, addr)).toThrow(InvalidSubjectError);
    expect(() => sessionSubject(1.5, "a", "b")).toThrow(InvalidSubjectError);
  });

  it("makes session keys that are valid KV keys", () => {
    expect(sessionKey("echo", "telegram:bot 1:42")).toMatch(/^[-/_=.a-zA-Z0-9]+$/);
  });

  it("tells the family of a data-path subject, and nothing else", () => {
    expect(subjectFamily("claw.in.t.a.c")).toBe("in");
    expect(subjectFamily("claw.in.7.t.a.c")).toBe("in");
    expect(subjectFamily("claw.session.3.echo.s")).toBe("session");
    expect(subjectFamily("claw.skill.bash.invoke")).toBe("skill");
    expect(subjectFamily("claw.webhook.wh1")).toBe("webhook");
    expect(subjectFamily("claw.out.t.a.c")).toBe("out");
    for (const s of [
      "$KV.claw_auth.key.x",
      "$JS.API.INFO",
      "claw.ctl.skill-cancel",
      "claw.in.shop.a.b.c",
      "claw.in.*.a.b",
      "claw.in.>",
      "claw.in.t.a. c",
      "claw.dlq.x",
      "claw.transcript.a.b",
    ])
      expect(subjectFamily(s), s).toBeUndefined();
  });

  it("builds the control plane's and the live view's subjects, and parses what it builds", () => {
    const web = { account: "web", chat: "~alice~s.1" };
    expect(wsTakeoverSubject(web)).toBe("claw.ctl.ws.takeover.web.=7Ealice=7Es=2E1");
    expect(parseWsTakeoverSubject(wsTakeoverSubject(web))).toEqual(web);
    expect(parseWsTakeoverSubject("claw.ctl.ws.takeover.web")).toBeUndefined();
    expect(parseWsTakeoverSubject("claw.ctl.watch.a.b")).toBeUndefined();
    expect(nodePingSubject("node a")).toBe("claw.ctl.node.node=20a.ping");
    // a session's id is its session key: already tokens, one per part
    expect(actorEventSubject("session", sessionKey("echo", "s.1"))).toBe("claw.events.actor.session.echo.s=2E1");
    expect(actorEventSubject("node", ">")).toBe("claw.events.actor.node.>");
    expect(parseDlqSubject(dlqSubject("session turn"))).toBe("session turn");
    expect(parseDlqSubject("claw.out.a.b.c")).toBeUndefined();
    expect(parseKvKeySubject("claw_members", kvKeySubject("claw_members", "m.a"))).toBe("m.a");
    expect(parseKvKeySubject("claw_members", kvKeySubject("claw_lease", "m.a"))).toBeUndefined();
  });

  it("narrows a wildcard to one channel, and writes the server's partition mapping from the raw inbound wildcard", () => {
    expect(wildcards.rawInboundOfChannel("_claw_probe")).toBe("claw.in._claw_probe.*.*");
    expect(wildcards.partitionedInboundOfChannel("_claw_probe")).toBe("claw.in.*._claw_probe.*.*");
    expect(inboundPartitionMapping(64)).toEqual({
      from: "claw.in.*.*.*",
      to: "claw.in.{{partition(64,1,2,3)}}.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}",
    });
  });
});
