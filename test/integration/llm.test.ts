/**
 * Agents on OpenAI-compatible providers, through the real `openai` package
 * pointed at a fake server (test/support/fake-openai.ts): answers with the
 * system prompt and history, tool calls, failover for every kind of failure,
 * circuit breakers, refusals dead-lettered, bindings and session isolation.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/bus/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { lastUser, startFakeOpenAI, type FakeAnswer, type FakeOpenAI, type FakeRequest } from "../support/fake-openai.js";
import { metric as nodeMetric } from "../support/metrics.js";
import { client, natsServer, type NatsServerProcess, type TestClient } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody, type ReplyCollector } from "../support/replies.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let nats: NatsServerProcess;
let c: TestClient;
let fake: FakeOpenAI;
let claw: ClawProcess;
let out: ReplyCollector;
/** how the fake answers, by the model a provider asks for */
const byModel: Record<string, (req: FakeRequest, n: number) => FakeAnswer> = {};
let dead429 = 0;
let flakyBroken = true;

beforeAll(async () => {
  nats = await natsServer();
  c = await client(nats.url);
  fake = await startFakeOpenAI();
  fake.answer = (req, n) => (byModel[req.model] ?? ((r: FakeRequest) => ({ text: `${req.model}: ${lastUser(r)}` })))(req, n);
  byModel["m-500"] = () => ({ status: 500, body: { error: { message: "upstream exploded", type: "server_error" } } });
  byModel["m-429"] = () =>
    dead429++ === 0
      ? { status: 429, headers: { "retry-after": "1" }, body: { error: { message: "slow down", type: "rate_limit" } } }
      : { text: "m-429 after waiting" };
  byModel["m-hang"] = () => ({ hang: true });
  byModel["m-400"] = () => ({
    status: 400,
    body: { error: { message: "This model's maximum context length is 8 tokens", type: "invalid_request_error", code: "context_length_exceeded" } },
  });
  byModel["m-flaky"] = (r) => (flakyBroken ? { status: 503 } : { text: `m-flaky: ${lastUser(r)}` });
  byModel["m-mem"] = (r) =>
    r.messages[0]?.content?.startsWith("Summarise the conversation")
      ? { text: `SUMMARY(${lastUser(r).length} chars)` }
      : { text: `ok ${lastUser(r).slice(0, 12)}` };
  byModel["m-tools"] = (r) => {
    const tool = r.messages.find((m) => m.role === "tool");
    return tool ? { text: `it is ${tool.content}` } : { toolCalls: [{ name: "time__now", arguments: "{}" }] };
  };
  const dead = await freePort(); // nothing listens there: connection refused
  const p = (model: string, extra: Record<string, unknown> = {}) => ({ baseURL: fake.baseURL, model, apiKeyEnv: "FAKE_KEY", maxRetries: 1, ...extra });
  const config = {
    providers: {
      main: p("m-main"),
      ok: p("m-ok"),
      p500: p("m-500"),
      p429: p("m-429"),
      phang: p("m-hang", { timeoutMs: 500, maxRetries: 0 }),
      pdead: { baseURL: `http://127.0.0.1:${dead}/v1`, model: "m-dead", maxRetries: 0 },
      p400: p("m-400"),
      flaky: p("m-flaky", { maxRetries: 0, circuitFailures: 2, circuitCooldownMs: 1_500 }),
      tools: p("m-tools"),
      mem: p("m-mem"),
    },
    agents: [
      { id: "bot", model: "main", system: "You are terse.", bindings: [{ channel: "t" }] },
      {
        id: "vip",
        model: "main",
        system: "You serve VIPs.",
        bindings: [
          { channel: "b", sender: "boss" },
          { channel: "b", metadata: { tier: "gold" } },
        ],
      },
      { id: "per-sender", model: "main", scope: "sender", bindings: [{ channel: "s" }] },
      { id: "a500", model: "p500", fallbacks: ["ok"], bindings: [] },
      { id: "a429", model: "p429", fallbacks: ["ok"], bindings: [] },
      { id: "ahang", model: "phang", fallbacks: ["ok"], bindings: [] },
      { id: "adead", model: "pdead", fallbacks: ["ok"], bindings: [] },
      { id: "a400", model: "p400", fallbacks: ["ok"], bindings: [] },
      { id: "aflaky", model: "flaky", fallbacks: ["ok"], bindings: [] },
      { id: "atools", model: "tools", skills: ["time.now"], bindings: [] },
      { id: "fallback", model: "ok", bindings: [] },
      { id: "mem", model: "mem", historyTokens: 50, summarize: true, bindings: [] },
    ],
    defaultAgent: "fallback",
  };
  const path = join(tmpdir(), `claw-llm-${process.pid}.json`);
  await writeFile(path, JSON.stringify(config));
  claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: path, FAKE_KEY: "sk-test-secret-123", CLAW_RETRY_BASE_MS: "100" } });
  out = await collectStreamReplies(c.js, c.jsm);
});

afterAll(async () => {
  out?.stop();
  await claw?.[Symbol.asyncDispose]();
  await fake?.close();
  await c?.[Symbol.asyncDispose]();
  await nats?.stop();
});

let n = 0;
/** Publishes a message as an outside system would; returns its id. */
async function send(
  chat: string,
  text: string,
  o: { agent?: string; sender?: string; channel?: string; metadata?: Record<string, string> } = {},
): Promise<string> {
  const id = `m${++n}`;
  const metadata = { ...o.metadata, ...(o.agent ? { agent: o.agent } : {}) };
  // an agent is named where it is reached by name: its own HTTP account (a message elsewhere may name only an agent bound there)
  const subject = o.agent ? `claw.in.http.${o.agent}.${chat}` : `claw.in.${o.channel ?? "t"}.acct.${chat}`;
  await c.js.publish(subject, jsonBody({ id, text, sender: { id: o.sender ?? "u" }, metadata }));
  return id;
}

const requestsFor = (model: string) => fake.requests.filter((r) => r.model === model);

const metric = (series: string) => nodeMetric(claw.httpPort, series);

describe("agents on OpenAI-compatible providers", () => {
  it("answers with the system prompt and the session's history, the key only in the Authorization header", async () => {
    const first = await send("h", "hello");
    expect((await out.waitFor(first, 10_000)).text).toBe("m-main: hello");
    const second = await send("h", "again");
    expect((await out.waitFor(second, 10_000)).text).toBe("m-main: again");
    const last = requestsFor("m-main").at(-1)!;
    expect(last.messages.map((m) => [m.role, m.content])).toEqual([
      ["system", "You are terse."],
      ["user", "hello"],
      ["assistant", "m-main: hello"],
      ["user", "again"],
    ]);
    expect(last.stream).toBe(true);
    expect(last.authorization).toBe("Bearer sk-test-secret-123");
    expect(claw.output()).not.toContain("sk-test-secret-123");
    expect(await metric('claw_llm_requests_total{provider="main",outcome="ok"}')).toBeGreaterThanOrEqual(2);
    expect(await metric('claw_llm_tokens_total{provider="main",kind="completion"}')).toBeGreaterThanOrEqual(10);
  });

  it("calls a skill the model asks for and answers with its result", async () => {
    const id = await send("tool", "what time is it?", { agent: "atools" });
    const reply = await out.waitFor(id, 10_000);
    const [first, second] = requestsFor("m-tools");
    expect(first!.tools?.map((t) => t.function.name)).toEqual(["time__now"]);
    // the second request carries the call and its result, under the provider's call id
    const call = second!.messages.find((m) => m.role === "assistant" && m.tool_calls)!;
    const result = second!.messages.find((m) => m.role === "tool")!;
    expect(call.tool_calls![0]!.function.name).toBe("time__now");
    expect(result.tool_call_id).toBe(call.tool_calls![0]!.id);
    const now = JSON.parse(result.content!) as { epochMs: number };
    expect(Math.abs(now.epochMs - Date.now())).toBeLessThan(10_000);
    expect(reply.text).toBe(`it is ${result.content}`);
  });

  it.each([
    ["a 500", "a500", "p500", "m-500", 2],
    ["a hanging request (timeout)", "ahang", "phang", "m-hang", 1],
    ["a refused connection", "adead", "pdead", undefined, 0],
  ])("fails over to the next provider on %s", async (_what, agent, provider, model, calls) => {
    const id = await send(`fo-${agent}`, "hello", { agent });
    expect((await out.waitFor(id, 15_000)).text).toBe("m-ok: hello");
    if (model) expect(requestsFor(model)).toHaveLength(calls);
    expect(await metric(`claw_llm_requests_total{provider="${provider}",outcome="unavailable"}`)).toBeGreaterThanOrEqual(1);
  });

  it("retries a 429 on the same provider after its Retry-After", async () => {
    const t0 = Date.now();
    const fallbacks = requestsFor("m-ok").length;
    const id = await send("rl", "hello", { agent: "a429" });
    expect((await out.waitFor(id, 15_000)).text).toBe("m-429 after waiting");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000);
    expect(requestsFor("m-429")).toHaveLength(2);
    expect(requestsFor("m-ok"), "no failover: the provider asked to wait, and was waited for").toHaveLength(fallbacks);
  });

  it("opens a failing provider's circuit and skips it, then probes it after the cool-down and closes it", async () => {
    for (const k of [1, 2]) expect((await out.waitFor(await send("cb", `try ${k}`, { agent: "aflaky" }), 10_000)).text).toBe(`m-ok: try ${k}`);
    expect(requestsFor("m-flaky")).toHaveLength(2);
    expect(await metric('claw_llm_circuit_open{provider="flaky"}')).toBe(1);
    expect((await out.waitFor(await send("cb", "try 3", { agent: "aflaky" }), 10_000)).text).toBe("m-ok: try 3");
    expect(requestsFor("m-flaky"), "skipped while open").toHaveLength(2);
    expect(await metric('claw_llm_requests_total{provider="flaky",outcome="skipped"}')).toBeGreaterThanOrEqual(1);
    flakyBroken = false;
    await sleep(1_600);
    expect((await out.waitFor(await send("cb", "try 4", { agent: "aflaky" }), 10_000)).text).toBe("m-flaky: try 4");
    expect(await metric('claw_llm_circuit_open{provider="flaky"}')).toBe(0);
  });

  it("dead-letters a turn the provider refuses, with its message, and tells the sender", async () => {
    const id = await send("refused", "a very long question", { agent: "a400" });
    const notice = await out.waitFor(id, 10_000);
    expect(notice.kind).toBe("error");
    expect(notice.text).toContain("maximum context length is 8 tokens");
    const all = await waitForDeadLetters(c.jsm, (l) => l.some((d) => d.msgId === id));
    expect(all.find((d) => d.msgId === id)).toMatchObject({ stage: "session", code: "provider_rejected" });
    // refused, not failed over: the fallback was never asked
    expect(requestsFor("m-ok").some((r) => lastUser(r) === "a very long question")).toBe(false);
  });

  it("routes by sender and metadata bindings, then to the default agent", async () => {
    const boss = await send("room", "hi", { channel: "b", sender: "boss" });
    const gold = await send("room2", "hi", { channel: "b", sender: "x", metadata: { tier: "gold" } });
    const other = await send("room3", "hi", { channel: "b", sender: "x", metadata: { tier: "silver" } });
    expect((await out.waitFor(boss, 10_000)).sender.id).toBe("vip");
    expect((await out.waitFor(gold, 10_000)).sender.id).toBe("vip");
    expect((await out.waitFor(other, 10_000)).sender.id).toBe("fallback");
  });

  it("sends the model only the history that fits the agent's token budget, with a summary of the rest", async () => {
    const long = (k: number) => `turn ${k}: ${"words ".repeat(12)}`;
    for (const k of [1, 2, 3]) await out.waitFor(await send("mem", long(k), { agent: "mem" }), 10_000);
    const turns = requestsFor("m-mem").filter((r) => !r.messages[0]?.content?.startsWith("Summarise"));
    const summaries = requestsFor("m-mem").filter((r) => r.messages[0]?.content?.startsWith("Summarise"));
    const third = turns.at(-1)!;
    // a pair is ~32 tokens: of two earlier turns only the last fits 50 tokens; the first is summarised
    expect(third.messages.filter((m) => m.role === "user").map((m) => m.content)).toEqual([long(2), long(3)]);
    expect(third.messages[0]).toMatchObject({ role: "system" });
    expect(third.messages[0]!.content).toMatch(/^Summary of the conversation so far: SUMMARY\(\d+ chars\)$/);
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    expect(lastUser(summaries[0]!)).toContain(long(1).trim());
    // the next summary starts from this one: what it covers is not sent again
    await out.waitFor(await send("mem", long(4), { agent: "mem" }), 10_000);
    const next = requestsFor("m-mem")
      .filter((r) => r.messages[0]?.content?.startsWith("Summarise"))
      .at(-1)!;
    expect(lastUser(next)).toMatch(/^Earlier summary: SUMMARY/);
    expect(lastUser(next)).toContain(long(2).trim());
    expect(lastUser(next)).not.toContain(long(1).trim());
  });

  it("keeps sessions apart: nothing of one chat, sender or agent reaches another's model", async () => {
    await out.waitFor(await send("secret-room", "my PIN is 4321"), 10_000);
    await out.waitFor(await send("other-room", "what is my PIN?"), 10_000);
    const asked = requestsFor("m-main")
      .filter((r) => lastUser(r) === "what is my PIN?")
      .at(-1)!;
    expect(JSON.stringify(asked.messages)).not.toContain("4321");
    // one session per sender across chats: alice's turns follow her, bob's stay his
    await out.waitFor(await send("s1", "alice here", { channel: "s", sender: "alice" }), 10_000);
    await out.waitFor(await send("s1", "bob here", { channel: "s", sender: "bob" }), 10_000);
    await out.waitFor(await send("s2", "alice again", { channel: "s", sender: "alice" }), 10_000);
    const alice = requestsFor("m-main")
      .filter((r) => lastUser(r) === "alice again")
      .at(-1)!;
    expect(alice.messages.map((m) => m.content)).toEqual(["alice here", "m-main: alice here", "alice again"]);
  });
});
