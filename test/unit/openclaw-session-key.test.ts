/**
 * Where each kind of OpenClaw session key continues in Claw, and the
 * response ids of `/v1/responses` that carry their conversation.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { splitSessionKey, targetOfSessionKey } from "../../src/cli/openclaw-session-key.js";
import { responseIdFor, sessionOfResponseId } from "../../src/gateway/responses.js";

describe("OpenClaw session keys", () => {
  it("maps each kind to the place its user continues", () => {
    expect(targetOfSessionKey("agent:main:openai-user:rc-alice")).toEqual({ kind: "http", session: "rc-alice", sender: "rc-alice" });
    expect(targetOfSessionKey("agent:main:openresponses-user:bob:with:colons")).toEqual({
      kind: "http",
      session: "bob:with:colons",
      sender: "bob:with:colons",
    });
    expect(targetOfSessionKey("agent:main:openai:6f1d0c2e-8f0a-4a57-9e2a-7d3c1b0a9e11")).toEqual({
      kind: "http",
      session: "6f1d0c2e-8f0a-4a57-9e2a-7d3c1b0a9e11",
      sender: "http",
    });
    expect(targetOfSessionKey("agent:ops:telegram:direct:4711")).toEqual({ kind: "chat", channel: "telegram", chat: "4711", sender: "4711" });
    expect(targetOfSessionKey("agent:ops:slack:work:direct:U123")).toEqual({ kind: "chat", channel: "slack", account: "work", chat: "U123", sender: "U123" });
    expect(targetOfSessionKey("agent:ops:telegram:group:-100200")).toEqual({ kind: "chat", channel: "telegram", chat: "-100200", sender: "user" });
    expect(targetOfSessionKey("agent:main:main")).toEqual({ kind: "http", session: "main", sender: "http" });
    expect(targetOfSessionKey("agent:main:cron:nightly").kind).toBe("skip");
    expect(targetOfSessionKey("cron:nightly").kind).toBe("skip");
    expect(targetOfSessionKey("agent:main:subagent:x").kind).toBe("skip");
    expect(splitSessionKey("agent:main:openai-user:x")).toEqual({ agent: "main", rest: "openai-user:x" });
  });
});

describe("response ids", () => {
  it("carry their conversation, whatever its name, and refuse ids that are not Claw's", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 200 }), fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/), (session, turn) => {
        expect(sessionOfResponseId(responseIdFor(turn, session))).toBe(session);
      }),
    );
    for (const bad of ["resp_", "resp_abc", "resp__aGk", "resp_abc_!!", "chatcmpl-1", "resp_abc_aGk="]) expect(sessionOfResponseId(bad), bad).toBeUndefined();
  });
});
