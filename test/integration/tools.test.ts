/**
 * Tool calls the whole way: the model asks for a skill, the turn publishes the
 * invocation to `claw.skill.<id>.invoke` and suspends (snapshot persisted,
 * message acked), a skill worker runs it and answers into the session's
 * mailbox, the turn resumes and replies — here with the scripted model's
 * `/tool <skill> <json>` and the built-in skills.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { BUCKETS, sessionKey, STREAMS } from "../../src/bus/index.js";
import { createSessionStore } from "../../src/actors/index.js";
import { startClaw } from "../support/claw-node.js";
import { client, natsServer } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody } from "../support/replies.js";

async function configFile(agents: unknown[]): Promise<string> {
  const path = join(tmpdir(), `claw-tools-${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`);
  await writeFile(path, JSON.stringify({ agents }));
  return path;
}

const toolAgent = { id: "helper", skills: ["time.now", "time.sleep", "echo@^1"], toolTimeoutMs: 20_000 };

describe("tool calls", () => {
  it("calls a skill across a suspended turn and answers with its result", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile([toolAgent]) } });
    void claw;
    const out = await collectStreamReplies(c.js, c.jsm);
    const send = (chat: string, id: string, text: string) => c.js.publish(`claw.in.t.a.${chat}`, jsonBody({ id, text, sender: { id: "u" } }));

    await send("c1", "t-1", '/tool echo {"text":"hello"}');
    expect((await out.waitFor("t-1")).text).toBe('echo: {"text":"hello"}');
    await send("c1", "t-2", "/tool time.now {}");
    const now = JSON.parse((await out.waitFor("t-2")).text!.replace(/^time\.now: /, "")) as { iso: string; epochMs: number };
    expect(Math.abs(now.epochMs - Date.now())).toBeLessThan(10_000);
    // errors are the model's to read: no such tool, input that breaks the schema
    await send("c2", "t-3", "/tool rm -rf");
    expect((await out.waitFor("t-3")).text).toMatch(/^rm failed: error \(unknown_tool\): this agent has no tool named rm/);
    await send("c2", "t-4", "/tool echo {}");
    expect((await out.waitFor("t-4")).text).toMatch(/^echo failed: error \(invalid_input\): input must have required property 'text'/);

    // a message that arrives while the turn waits for its tool waits its turn
    await send("c3", "t-5", '/tool time.sleep {"ms":800}');
    await send("c3", "t-6", "after the tool");
    await out.waitFor("t-6", 10_000);
    expect(out.replies.filter((r) => r.chat === "c3").map((r) => [r.replyTo, r.text])).toEqual([
      ["t-5", 'time.sleep: {"slept":800}'],
      ["t-6", "after the tool"],
    ]);
    // the session remembers the turns, not the tool chatter
    const store = createSessionStore(await new Kvm(c.js).open(BUCKETS.sessions), { jsm: c.jsm });
    const { snapshot } = await store.load(sessionKey("helper", "t:a:c3"));
    expect((snapshot as { value: string; context: { history: Array<{ text: string }> } }).context.history.map((t) => t.text)).toEqual([
      '/tool time.sleep {"ms":800}',
      'time.sleep: {"slept":800}',
      "after the tool",
      "after the tool",
    ]);
    // every invocation was taken off the work queue
    expect((await c.jsm.streams.info(STREAMS.skills)).state.messages).toBe(0);
    out.stop();
  }, 60_000);

  it("lets a message interrupt a turn that waits for its tool, for an agent that allows it", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const agents = [{ ...toolAgent, interrupt: true }];
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile(agents) } });
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.t.a.i", jsonBody({ id: "i-1", text: '/tool time.sleep {"ms":3000}', sender: { id: "u" } }));
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await c.js.publish("claw.in.t.a.i", jsonBody({ id: "i-2", text: "/history", sender: { id: "u" } }));
    const reply = await out.waitFor("i-2", 5_000);
    expect(Date.now() - t0, "not kept waiting behind the tool").toBeLessThan(2_000);
    // the interrupted question is remembered, unanswered
    expect(reply.text).toBe('1 earlier turns\n1. /tool time.sleep {"ms":3000}');
    // its tool was cancelled, not left to run
    await claw.waitForLogs((l) => l.type === "skill.completed" && l.code === "cancelled", 1, 2_000);
    // and nothing more comes of it: no reply for the interrupted turn, ever
    await new Promise((r) => setTimeout(r, 3_500));
    expect(out.replies.map((r) => r.replyTo)).toEqual(["i-2"]);
    out.stop();
  }, 30_000);

  it("times a tool out at its deadline when no worker answers, and lets the model go on", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    // `ghost` is a skill the agent may call but no node hosts
    const agents = [{ id: "helper", skills: ["ghost"], toolTimeoutMs: 1_500 }];
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile(agents) } });
    void claw;
    const out = await collectStreamReplies(c.js, c.jsm);
    const t0 = Date.now();
    await c.js.publish("claw.in.t.a.g", jsonBody({ id: "g-1", text: "/tool ghost {}", sender: { id: "u" } }));
    expect((await out.waitFor("g-1", 10_000)).text).toBe("ghost failed: error (timeout): the tool did not answer before its deadline");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_400);
    out.stop();
  }, 30_000);

  it("resumes a turn whose node died while its tool ran, on the next owner, with exactly one reply", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const env = { NATS_URL: nats.url, CLAW_CONFIG: await configFile([toolAgent]), CLAW_ACK_WAIT_MS: "2000" };
    const first = await startClaw({ env: { ...env, CLAW_NODE_ID: "n1" } });
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.t.a.k", jsonBody({ id: "k-1", text: '/tool time.sleep {"ms":2500}', sender: { id: "u" } }));
    // the turn is suspended once its snapshot says so
    const store = createSessionStore(await new Kvm(c.js).open(BUCKETS.sessions), { jsm: c.jsm });
    for (let i = 0; ; i++) {
      const { snapshot } = await store.load(sessionKey("helper", "t:a:k"));
      if (JSON.stringify((snapshot as { value?: unknown } | undefined)?.value) === '{"acting":"waiting"}') break;
      if (i > 200) throw new Error("the turn never suspended");
      await new Promise((r) => setTimeout(r, 20));
    }
    await using second = await startClaw({ env: { ...env, CLAW_NODE_ID: "n2" } });
    void second;
    await first.kill("SIGKILL");
    // n2 takes the partition over; the invocation n1's worker held comes back after its ack wait and runs on n2
    const reply = await out.waitFor("k-1", 30_000);
    expect(reply.text).toBe('time.sleep: {"slept":2500}');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(out.replies.map((r) => r.replyTo)).toEqual(["k-1"]);
    out.stop();
  }, 60_000);
});
