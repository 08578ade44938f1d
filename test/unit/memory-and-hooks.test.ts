import { describe, expect, it } from "vitest";
import { rank, scopeHash, scopeOf } from "../../src/memory/index.js";
import { redactSecrets, redactValue } from "../../src/skills/builtin-hooks.js";
import { hooksFor, runAfter, runBefore } from "../../src/skills/skill-hooks.js";

describe("redact.secrets", () => {
  it.each([
    ["OPENAI_API_KEY=sk-proj-aaaaaaaaaaaaaaaaaaaaaaaa", "OPENAI_API_KEY=[REDACTED]"],
    ["token: ghp_abcdefghijklmnopqrstuvwxyz0123456789", "token: [REDACTED]"],
    ["slack xoxb-1234567890-abcdefghij here", "slack [REDACTED] here"],
    ["aws AKIAABCDEFGHIJKLMNOP", "aws [REDACTED]"],
    ["bot 123456789:AAHk-abcdefghijklmnopqrstuvwxyz012 ok", "bot [REDACTED] ok"],
    ["Authorization: Bearer abcdefghijklmnop.qrstuv", "Authorization: [REDACTED]"],
    ['{"password": "hunter22"}', '{"password": "[REDACTED]"}'],
    ["-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "[REDACTED]"],
  ])("masks %j", (text, masked) => {
    expect(redactSecrets(text)).toBe(masked);
  });

  it.each(["a task-force of 12", "sk-1", "the tokens were spent", "password reset link sent", "eyJ"])("leaves %j alone", (text) => {
    expect(redactSecrets(text)).toBe(text);
  });

  it("masks every string of a JSON value, and values under secret-looking keys, keeping the keys", () => {
    expect(redactValue({ env: { API_KEY: "abcdef123", HOME: "/root" }, lines: ["key sk-abcdefghijklmnopqrstuvwx"], n: 3 })).toEqual({
      env: { API_KEY: "[REDACTED]", HOME: "/root" },
      lines: ["key [REDACTED]"],
      n: 3,
    });
  });
});

describe("hooks", () => {
  it("runs the agent's hooks, then the skill's own", () => {
    const hooks = { before: ["a"], after: ["z"], skills: { bash: { before: ["b"], after: [] } } };
    expect(hooksFor(hooks, "bash")).toEqual({ before: ["a", "b"], after: ["z"] });
    expect(hooksFor(hooks, "echo")).toEqual({ before: ["a"], after: ["z"] });
    expect(hooksFor(undefined, "echo")).toEqual({ before: [], after: [] });
  });

  it("passes the changed input on, stops at a deny, and fails closed on an answer outside the contract", async () => {
    const call = { skill: "bash", input: { n: 1 }, agent: "a" };
    const seen: unknown[] = [];
    const inc = async (_h: string, i: unknown) => (seen.push(i), { input: { n: ((i as { input: { n: number } }).input.n ?? 0) + 1 } });
    expect(await runBefore(["x", "y"], call, inc)).toEqual({ n: 3 });
    expect(seen).toEqual([
      { ...call, input: { n: 1 } },
      { ...call, input: { n: 2 } },
    ]);
    await expect(runBefore(["x", "no"], call, async (h, i) => (h === "no" ? { deny: "never" } : inc(h, i)))).rejects.toMatchObject({
      code: "denied",
      message: "denied by no: never",
    });
    await expect(runBefore(["odd"], call, async () => 42)).rejects.toMatchObject({ code: "hook_failed" });
    await expect(runBefore(["gone"], call, async () => Promise.reject(new Error("no such skill")))).rejects.toMatchObject({ code: "hook_failed" });
    await expect(runAfter(["odd"], call, "out", async () => ({ nothing: 1 }))).rejects.toMatchObject({ code: "hook_failed" });
    expect(await runAfter(["up"], call, "out", async (_h, i) => ({ output: String((i as { output: string }).output).toUpperCase() }))).toBe("OUT");
  });
});

describe("memory ranking and scopes", () => {
  const at = { channel: "telegram", account: "bot", chat: "42", sender: "7" };
  it("keeps a sender apart by channel, falls back to the chat without a sender, and has one agent scope", () => {
    expect(scopeOf("sender", at)).toEqual({ kind: "sender", channel: "telegram", sender: "7" });
    expect(scopeHash(scopeOf("sender", at))).not.toBe(scopeHash(scopeOf("sender", { ...at, channel: "slack" })));
    expect(scopeHash(scopeOf("sender", at))).toBe(scopeHash(scopeOf("sender", { ...at, chat: "other" })));
    expect(scopeOf("sender", { ...at, sender: undefined }).kind).toBe("chat");
    expect(scopeHash(scopeOf("agent", at))).toBe(scopeHash(scopeOf("agent", { ...at, sender: "8" })));
  });

  it("ranks by words, with prefixes and small typos, newest first on a tie", () => {
    const e = (id: string, text: string, ts: number) => ({ id: `m-${"0".repeat(24)}-${id}`, text, tags: [], ts });
    const entries = [e("000000000001", "likes green tea", 1), e("000000000002", "works at a bakery", 2), e("000000000003", "drinks tea daily", 3)];
    expect(rank(entries, "tea").map((r) => r.text)).toEqual(["drinks tea daily", "likes green tea"]);
    expect(rank(entries, "bakry")[0]!.text).toBe("works at a bakery");
    expect(rank(entries, "nothing matches")).toEqual([]);
  });
});
