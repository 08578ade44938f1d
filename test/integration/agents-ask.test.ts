/**
 * Agents that ask agents (`agents.ask`) with real nodes and a real
 * nats-server, the scripted model on both sides (`/tool agents.ask {…}` on the
 * caller's, `/history`, `/slow`, `/fail` on the callee's): the callee's answer
 * is the caller's tool result, the child session remembers, the depth limit
 * ends loops, failures come back as error results, the trace goes on across
 * both turns, and a caller's suspended turn survives the SIGKILL of its node.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { chatSessionId, createSessionStore } from "../../src/actors/index.js";
import { BUCKETS, sessionKey } from "../../src/bus/index.js";
import { findLiveSession } from "../../src/cli/inspect.command.js";
import { runCli } from "../support/claw-cli.js";
import { startClaw } from "../support/claw-node.js";
import { lastUser, startFakeOpenAI } from "../support/fake-openai.js";
import { client, natsServer, type TestClient } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody } from "../support/replies.js";

async function configFile(agents: unknown[]): Promise<string> {
  const path = join(tmpdir(), `claw-ask-${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`);
  await writeFile(path, JSON.stringify({ agents }));
  return path;
}

/** The scripted model's way of calling `agents.ask`. */
const ask = (input: Record<string, unknown>) => `/tool agents.ask ${JSON.stringify(input)}`;
/** The caller's answer once the callee answered `text` (the scripted model shows the tool's result). */
const answered = (text: string) => `agents.ask: ${JSON.stringify({ text })}`;

/** `a` answers the `t` channel and may ask `b`; `b` answers only what it is asked (its own HTTP account). */
const caller = { id: "a", skills: ["agents.ask"], ask: ["b"], toolTimeoutMs: 30_000, bindings: [{ channel: "t" }] };
const callee = { id: "b", bindings: [] };

/** The snapshot of `agent`'s session `session`, as a node would load it. */
async function snapshotOf(c: TestClient, agent: string, session: string) {
  const store = createSessionStore(await new Kvm(c.js).open(BUCKETS.sessions), { jsm: c.jsm });
  const { snapshot } = await store.load(sessionKey(agent, session));
  return snapshot as { value?: unknown; context: { history: Array<{ text: string }>; current?: { calls: Array<{ name: string }> } } } | undefined;
}

/** b's session asked from `a`'s session `session` (chat `t:a:<chat>`). */
const childOf = (session: string, name = "b", owner = "a", agent = "b") =>
  chatSessionId({ channel: "http", account: agent, chat: `~agent:${owner}~${session}/${name}` });

describe("agents.ask", () => {
  it("brings another agent's answer into a turn, in a child session that remembers, on one trace", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile([caller, callee]) } });
    void claw;
    const out = await collectStreamReplies(c.js, c.jsm);
    const send = (chat: string, id: string, text: string) => c.js.publish(`claw.in.t.a.${chat}`, jsonBody({ id, text, sender: { id: "u" } }));

    await send("c1", "q-1", ask({ agent: "b", text: "the answer is 42" }));
    const first = await out.waitFor("q-1", 20_000);
    expect(first.text).toBe(answered("the answer is 42"));
    // b answered in its child session of a's session, and remembers it the next time a asks
    await send("c1", "q-2", ask({ agent: "b", text: "/history" }));
    expect((await out.waitFor("q-2", 20_000)).text).toBe(answered("1 earlier turns\n1. the answer is 42"));
    const child = await snapshotOf(c, "b", childOf("t:a:c1"));
    expect(child?.context.history.map((t) => t.text)).toEqual(["the answer is 42", "the answer is 42", "/history", "1 earlier turns\n1. the answer is 42"]);
    // a named session is another conversation, still a child of a's session
    await send("c1", "q-3", ask({ agent: "b", text: "/history", session: "other" }));
    expect((await out.waitFor("q-3", 20_000)).text).toBe(answered("0 earlier turns"));
    expect((await snapshotOf(c, "b", childOf("t:a:c1", "other")))?.context.history).toHaveLength(2);
    // another chat of a asks its own child
    await send("c2", "q-4", ask({ agent: "b", text: "/history" }));
    expect((await out.waitFor("q-4", 20_000)).text).toBe(answered("0 earlier turns"));

    // the trace goes on from a's turn into b's: b's reply is on a's trace
    const bReplies = out.replies.filter((r) => r.channel === "http" && r.account === "b");
    expect(bReplies).toHaveLength(4);
    const traceOf = (tp: string | undefined) => tp?.split("-")[1];
    expect(traceOf(bReplies[0]!.trace.traceparent)).toBe(traceOf(first.trace.traceparent));
    expect(traceOf(first.trace.traceparent)).toMatch(/^[0-9a-f]{32}$/);
    // and b's asked turn says who asked, from where, how deep
    expect(bReplies[0]!.chat).toBe("~agent:a~t:a:c1/b");
    out.stop();
  }, 90_000);

  it("answers the caller's model with an error result when the ask is not allowed or the callee fails", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const agents = [
      caller,
      callee,
      { id: "c", bindings: [] },
      // lists every agent, so an unknown one is told apart from a refused one
      { id: "any", skills: ["agents.ask"], ask: ["*"], bindings: [{ channel: "u" }] },
      // may call the skill but lists nobody: asks no one
      { id: "mute", skills: ["agents.ask"], bindings: [{ channel: "m" }] },
    ];
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile(agents) } });
    const out = await collectStreamReplies(c.js, c.jsm);
    const send = (channel: string, id: string, text: string) => c.js.publish(`claw.in.${channel}.x.e`, jsonBody({ id, text, sender: { id: "u" } }));

    await send("t", "e-1", ask({ agent: "c", text: "hi" }));
    expect((await out.waitFor("e-1", 20_000)).text).toBe(`agents.ask failed: error (denied): agent a may not ask agent c: list it in a's "ask"`);
    await send("m", "e-2", ask({ agent: "b", text: "hi" }));
    expect((await out.waitFor("e-2", 20_000)).text).toMatch(/^agents\.ask failed: error \(denied\): agent mute may not ask agent b/);
    await send("u", "e-3", ask({ agent: "nobody", text: "hi" }));
    expect((await out.waitFor("e-3", 20_000)).text).toBe("agents.ask failed: error (no_agent): no agent named nobody");
    // the callee's model fails for good: the caller's model reads why, and answers
    await send("t", "e-4", ask({ agent: "b", text: "/fail out of ideas" }));
    expect((await out.waitFor("e-4", 30_000)).text).toMatch(
      /^agents\.ask failed: error \(agent_failed\): agent b failed \(scripted_fail\): .*scripted permanent failure: out of ideas/,
    );
    // input the model made up is refused before anything is asked
    await send("t", "e-5", ask({ agent: "b", text: "hi", session: "../../etc" }));
    expect((await out.waitFor("e-5", 20_000)).text).toMatch(/^agents\.ask failed: error \(invalid_input\): input\.session must match pattern/);
    // outside an agent's turn (the HTTP API's own invoke) there is no asking session: refused
    const direct = await fetch(`http://127.0.0.1:${claw.httpPort}/v1/skills/agents.ask/invoke`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ input: { agent: "b", text: "hi" } }),
    });
    expect(await direct.json()).toMatchObject({ error: { code: "denied", message: "agents.ask answers only an agent's turn: it needs the asking session" } });
    // nothing was asked of c, nobody, or of b for mute and the bad session: only the failing turn reached b
    expect(out.replies.filter((r) => r.channel === "http").map((r) => [r.account, r.kind])).toEqual([["b", "error"]]);
    out.stop();
  }, 90_000);

  it("works with a model on an OpenAI-compatible provider: the tool agents__ask, the callee's answer as its result, a provider error as an error result", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using fake = await startFakeOpenAI();
    // the caller's model asks billing once, then answers with what the tool said; billing's model answers, or fails for "boom"
    fake.answer = (r) => {
      if (r.model === "m-billing") return lastUser(r) === "boom" ? { status: 400 } : { text: `billing says: you owe 12 (re ${lastUser(r)})` };
      const tool = r.messages.find((m) => m.role === "tool");
      return tool
        ? { text: `front heard: ${tool.content}` }
        : { toolCalls: [{ name: "agents__ask", arguments: JSON.stringify({ agent: "billing", text: lastUser(r) }) }] };
    };
    const p = (model: string) => ({ baseURL: fake.baseURL, model, apiKeyEnv: "FAKE_KEY", maxRetries: 0 });
    const path = join(tmpdir(), `claw-ask-llm-${process.pid}.json`);
    const agents = [
      { id: "front", model: "front", skills: ["agents.ask"], ask: ["billing"], bindings: [{ channel: "t" }] },
      { id: "billing", model: "billing", bindings: [] },
    ];
    await writeFile(path, JSON.stringify({ providers: { front: p("m-front"), billing: p("m-billing") }, agents }));
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: path, FAKE_KEY: "sk-test" } });
    void claw;
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.t.x.p", jsonBody({ id: "p-1", text: "what do I owe?", sender: { id: "u" } }));
    expect((await out.waitFor("p-1", 20_000)).text).toBe(`front heard: ${JSON.stringify({ text: "billing says: you owe 12 (re what do I owe?)" })}`);
    const first = fake.requests.find((r) => r.model === "m-front")!;
    expect(first.tools?.map((t) => t.function.name)).toEqual(["agents__ask"]);
    await c.js.publish("claw.in.t.x.p", jsonBody({ id: "p-2", text: "boom", sender: { id: "u" } }));
    expect((await out.waitFor("p-2", 30_000)).text).toMatch(/^front heard: error \(agent_failed\): agent billing failed \(provider_[a-z_]+\): /);
    out.stop();
  }, 90_000);

  it.each([
    ["a loop of one agent", ["a", "a", "a", "a"]],
    ["a loop of two agents", ["b", "a", "b", "a"]],
  ])(
    "stops %s at CLAW_MAX_AGENT_DEPTH with depth_exceeded",
    async (_name, chain) => {
      await using nats = await natsServer();
      await using c = await client(nats.url);
      const agents = [
        { id: "a", skills: ["agents.ask"], ask: ["a", "b"], toolTimeoutMs: 30_000, bindings: [{ channel: "t" }] },
        { id: "b", skills: ["agents.ask"], ask: ["a"], toolTimeoutMs: 30_000, bindings: [] },
      ];
      await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile(agents), CLAW_MAX_AGENT_DEPTH: "2" } });
      void claw;
      const out = await collectStreamReplies(c.js, c.jsm);
      // each asked turn asks the next one in the chain, as a model told to would
      const text = chain.reduceRight((inner, agent) => ask({ agent, text: inner }), "/history");
      await c.js.publish("claw.in.t.x.loop", jsonBody({ id: "l-1", text, sender: { id: "u" } }));
      const reply = await out.waitFor("l-1", 60_000);
      expect(reply.text).toContain("depth_exceeded");
      expect(reply.text).toContain("agents asking agents stop at depth 2 (CLAW_MAX_AGENT_DEPTH): this turn is at 2");
      // two asked turns (depth 1 and 2), the third refused: the asked agents answered exactly twice
      await new Promise((r) => setTimeout(r, 500));
      const asked = out.replies.filter((r) => r.channel === "http");
      expect(asked.map((r) => r.account)).toEqual(chain.slice(0, 2).reverse());
      expect(asked.every((r) => r.kind === "reply")).toBe(true);
      out.stop();
    },
    90_000,
  );

  it.each([
    ["holding the caller's suspended turn", "holder"],
    ["running the ask", "asker"],
  ] as const)(
    "survives the SIGKILL of the node %s while the callee thinks, with one reply",
    async (_name, victim) => {
      await using nats = await natsServer();
      await using c = await client(nats.url);
      // debug: the skill workers say which node took the ask
      const env = { NATS_URL: nats.url, CLAW_CONFIG: await configFile([caller, callee]), CLAW_ACK_WAIT_MS: "2000", CLAW_LOG_LEVEL: "debug" };
      const nodes = new Map(await Promise.all(["n1", "n2"].map(async (id) => [id, await startClaw({ env: { ...env, CLAW_NODE_ID: id } })] as const)));
      await using _n1 = nodes.get("n1")!;
      await using _n2 = nodes.get("n2")!;
      const out = await collectStreamReplies(c.js, c.jsm);
      await c.js.publish("claw.in.t.a.k", jsonBody({ id: "k-1", text: ask({ agent: "b", text: "/slow 8000" }), sender: { id: "u" } }));
      // the precondition: a's turn is suspended on agents.ask (its snapshot says so) while b thinks
      for (let i = 0; ; i++) {
        const s = await snapshotOf(c, "a", "t:a:k");
        if (JSON.stringify(s?.value) === '{"acting":"waiting"}' && s?.context.current?.calls[0]?.name === "agents.ask") break;
        if (i > 400) throw new Error("the turn never suspended");
        await new Promise((r) => setTimeout(r, 20));
      }
      // claw inspect says what it waits for
      const inspect = await runCli(["inspect", "a", "t:a:k"], { NATS_URL: nats.url });
      expect(inspect.stdout).toMatch(/^waiting {3}agents\.ask: asks agent b: "\/slow 8000" \(call k-1:tool:0:0\)$/m);
      const [holder] = await findLiveSession(c.nc, sessionKey("a", "t:a:k"), 2_000);
      expect(holder?.state).toBe("acting.waiting");
      const asker = [...nodes].find(([, n]) => n.logs.some((l) => l.msg === "skill.received" && l.skill === "agents.ask"))?.[0];
      expect(asker).toBeDefined();
      const dead = victim === "holder" ? holder!.node : asker!;
      const survivor = dead === "n1" ? "n2" : "n1";
      expect(out.replies, "b still thinks when the node dies").toEqual([]);
      await nodes.get(dead)!.kill("SIGKILL");
      // the survivor takes a's partition over; the ask (and b's turn) wherever they ran: b answers once, a resumes once
      const reply = await out.waitFor("k-1", 60_000);
      expect(reply.text).toBe(answered("slept 8000 ms"));
      expect(reply.node).toBe(survivor);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(out.replies.filter((r) => r.channel === "t").map((r) => r.replyTo)).toEqual(["k-1"]);
      expect(out.replies.filter((r) => r.channel === "http").map((r) => r.text)).toEqual(["slept 8000 ms"]);
      // the ask ran again on the survivor when its node died: asked again under the same message id, absorbed
      const askedAgain = nodes.get(survivor)!.logs.some((l) => l.msg === "skill.received" && l.skill === "agents.ask");
      if (victim === "asker") expect(askedAgain).toBe(true);
      // b's child session holds the one question, once
      expect((await snapshotOf(c, "b", childOf("t:a:k")))?.context.history.map((t) => t.text)).toEqual(["/slow 8000", "slept 8000 ms"]);
      out.stop();
    },
    90_000,
  );
});
