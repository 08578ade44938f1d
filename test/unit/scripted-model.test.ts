import { describe, expect, it } from "vitest";
import { ModelError, scriptedReply, type ModelRequest } from "../../src/llm/index.js";

function req(text: string, attempt = 1, signal = new AbortController().signal): ModelRequest {
  return {
    agent: "echo",
    session: "s",
    history: [
      { role: "user", text: "earlier", id: "m0", ts: 0 },
      { role: "assistant", text: "earlier", id: "r0", ts: 0 },
    ],
    message: { id: "m1", ts: 1, channel: "c", account: "a", chat: "x", sender: { id: "u" }, kind: "message", text, media: [], metadata: {}, trace: {} },
    attempt,
    signal,
  };
}

describe("scripted model", () => {
  it("echoes text", async () => {
    expect(await scriptedReply(req("hello world"))).toEqual({ text: "hello world" });
  });

  it("lists the session's history", async () => {
    expect((await scriptedReply(req("/history"))).text).toBe("1 earlier turns\n1. earlier");
  });

  it("fails transiently for the first n attempts", async () => {
    await expect(scriptedReply(req("/flaky 2", 1))).rejects.toMatchObject({ transient: true, code: "scripted_flaky" });
    await expect(scriptedReply(req("/flaky 2", 2))).rejects.toBeInstanceOf(ModelError);
    expect((await scriptedReply(req("/flaky 2", 3))).text).toContain("recovered after 2 failures");
  });

  it("fails permanently on /fail", async () => {
    await expect(scriptedReply(req("/fail bad day"))).rejects.toMatchObject({ transient: false, message: expect.stringContaining("bad day") });
  });

  it("sleeps on /slow and stops when aborted", async () => {
    const t0 = Date.now();
    expect((await scriptedReply(req("/slow 50"))).text).toBe("slept 50 ms");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    const ac = new AbortController();
    const p = scriptedReply(req("/slow 10000", 1, ac.signal));
    ac.abort(new Error("stop"));
    await expect(p).rejects.toThrow("stop");
  });

  it("describes /help", async () => {
    expect((await scriptedReply(req("/help"))).text).toContain("/flaky <n>");
  });
});
