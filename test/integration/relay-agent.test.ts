/**
 * A second agent kind, the relay, through real nodes and a real nats-server:
 * an agent of kind `relay` hands each message on to the agent its
 * `options.to` names, which answers the sender — once, also when the relay's
 * node dies between handing the message on and writing its snapshot. Its
 * options are checked when it is registered; a relay whose target is gone
 * dead-letters the message and tells the sender.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { createSessionStore } from "../../src/actors/index.js";
import { BUCKETS, sessionKey, STREAMS } from "../../src/bus/index.js";
import { startClaw } from "../support/claw-node.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { client, natsServer, type TestClient } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody } from "../support/replies.js";

/** `front` relays what comes on the channel `front` to `echo`; `lost` relays to an agent nobody registered. */
const AGENTS = [
  { id: "echo" },
  { id: "front", kind: "relay", options: { to: "echo" }, bindings: [{ channel: "front" }] },
  { id: "lost", kind: "relay", options: { to: "ghost" }, bindings: [{ channel: "lost" }] },
];

async function configFile(): Promise<string> {
  const path = join(tmpdir(), `claw-relay-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(path, JSON.stringify({ agents: AGENTS }));
  return path;
}

/** A session's persisted context, as a node would load it. */
async function contextOf(c: TestClient, agent: string, session: string): Promise<Record<string, unknown> | undefined> {
  const kv = await new Kvm(c.js).open(BUCKETS.sessions);
  const stored = await createSessionStore(kv, { jsm: c.jsm }).load(sessionKey(agent, session));
  return (stored.snapshot as { context?: Record<string, unknown> } | undefined)?.context;
}

describe("a relay agent", () => {
  it("hands a message to its target agent, which answers the sender once", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using node = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile() } });
    void node;
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.front.a.c1", jsonBody({ id: "r-1", text: "hello through the relay", sender: { id: "u" } }));
    const reply = await out.waitFor("r-1", 10_000);
    // echo's own answer, from its own session for the chat
    expect(reply).toMatchObject({
      kind: "reply",
      text: "hello through the relay",
      sender: { id: "echo" },
      chat: "c1",
      metadata: { agent: "echo", session: "front:a:c1" },
    });
    expect(await contextOf(c, "echo", "front:a:c1")).toMatchObject({ lastTurnId: "r-1", turns: 1 });
    // the relay's session remembers the message as handed on, and answered nothing itself
    expect(await contextOf(c, "front", "front:a:c1")).toMatchObject({ lastTurnId: "r-1", relayed: 1, lastTo: "echo" });
    await new Promise((r) => setTimeout(r, 300));
    expect(out.replies.map((r) => [r.replyTo, r.sender.id])).toEqual([["r-1", "echo"]]);
    out.stop();
  });

  it("hands a message on once when its node dies after handing it on, before its snapshot is written", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const config = await configFile();
    const first = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_FAILPOINTS: "session.after-reply" } });
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.front.a.c2", jsonBody({ id: "r-2", text: "survive this", sender: { id: "u" } }));
    const signal = first.child.signalCode ?? (await new Promise((r) => first.child.once("exit", (_c, sig) => r(sig))));
    expect(signal).toBe("SIGKILL");
    expect(first.output()).toContain("failpoint session.after-reply reached");
    // the relay had handed the message on (its snapshot not written): the next node runs its turn again
    expect(await contextOf(c, "front", "front:a:c2")).toBeUndefined();
    await using second = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config } });
    void second;
    expect(await out.waitFor("r-2", 15_000)).toMatchObject({ text: "survive this", sender: { id: "echo" } });
    await new Promise((r) => setTimeout(r, 500));
    expect(out.replies.map((r) => r.replyTo)).toEqual(["r-2"]);
    expect(await contextOf(c, "front", "front:a:c2")).toMatchObject({ lastTurnId: "r-2", relayed: 1 });
    // handed on twice, stored once: the second hand-off carried the first one's msg id
    expect((await c.jsm.streams.info(STREAMS.sessions)).state.last_seq).toBe(1);
    out.stop();
  }, 60_000);

  it("dead-letters a message its target agent cannot take, and tells the sender", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using node = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile() } });
    void node;
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.lost.a.c1", jsonBody({ id: "r-3", text: "anyone?", sender: { id: "u" } }));
    const notice = await out.waitFor("r-3", 10_000);
    expect(notice).toMatchObject({ kind: "error", metadata: { code: "no_agent", retryable: false } });
    expect(notice.text).toContain("relays to ghost, which is not registered");
    const [dl] = await waitForDeadLetters(c.jsm, (all) => all.some((d) => d.msgId === "r-3"));
    expect(dl).toMatchObject({ stage: "session", code: "no_agent", msgId: "r-3" });
    out.stop();
  });

  it("checks a relay's options when it is registered", async () => {
    await using nats = await natsServer();
    await using node = await startClaw({ env: { NATS_URL: nats.url } });
    const register = (body: unknown) =>
      fetch(`http://127.0.0.1:${node.httpPort}/v1/agents`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const missing = await register({ id: "r1", kind: "relay" });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { field: "options.to" } });
    const typo = await register({ id: "r2", kind: "relay", options: { too: "echo" } });
    expect(typo.status).toBe(400);
    expect(await typo.json()).toMatchObject({ error: { field: "options.too", message: expect.stringContaining("did you mean to?") } });
    // an assistant has no options to give
    const assistant = await register({ id: "a1", options: { to: "echo" } });
    expect(assistant.status).toBe(400);
    expect(await assistant.json()).toMatchObject({ error: { field: "options", message: expect.stringContaining("takes no options") } });
    expect((await register({ id: "r3", kind: "relay", options: { to: "echo" } })).status).toBe(201);
  });
});
