/**
 * Long-term memory through real agent turns: what a sender asks the agent to
 * remember (`memory.write`) is found in that sender's next conversation
 * (`memory.search`), after the node is killed and another started, and never
 * by another sender; recall puts the best matches into the model's context
 * without a tool call, ranked by meaning when the agent has embeddings; the
 * operator's `/v1/agents/{id}/memory` lists and forgets.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { startFakeOpenAI } from "../support/fake-openai.js";
import { client, natsServer } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody } from "../support/replies.js";

async function configFile(config: unknown): Promise<string> {
  const path = join(tmpdir(), `claw-memory-${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`);
  await writeFile(path, JSON.stringify(config));
  return path;
}

async function api(claw: ClawProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${claw.httpPort}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const keeper = { id: "keeper", skills: ["memory.write", "memory.search", "memory.forget"], toolTimeoutMs: 20_000 };
type Results = { results: Array<{ id: string; text: string; score: number; tags: string[] }> };

describe("memory", () => {
  it("finds what a sender asked to remember in that sender's next conversation, after a restart, and never for another sender", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const env = { NATS_URL: nats.url, CLAW_CONFIG: await configFile({ agents: [keeper] }) };
    let claw = await startClaw({ env });
    const out = await collectStreamReplies(c.js, c.jsm);
    const send = (chat: string, id: string, sender: string, text: string) =>
      c.js.publish(`claw.in.t.a.${chat}`, jsonBody({ id, text, sender: { id: sender } }));
    const tool = async (id: string, skill: string) => {
      const text = (await out.waitFor(id, 20_000)).text!;
      expect(text.startsWith(`${skill}: `), text).toBe(true);
      return JSON.parse(text.slice(skill.length + 2));
    };

    await send("c1", "w-1", "alice", '/tool memory.write {"text":"my favourite colour is teal","tags":["prefs"]}');
    const { id } = (await tool("w-1", "memory.write")) as { id: string };
    expect(id).toMatch(/^m-[0-9a-f]{24}-[0-9a-f]{12}$/);

    // alice in another chat: another session, the same memory
    await send("c2", "s-1", "alice", '/tool memory.search {"query":"favourite colour"}');
    const found = (await tool("s-1", "memory.search")) as Results;
    expect(found.results.map((r) => [r.id, r.text, r.tags])).toEqual([[id, "my favourite colour is teal", ["prefs"]]]);
    expect(found.results[0]!.score).toBeGreaterThan(0);
    // bob, in the same chat as alice: none of hers, and hers cannot be forgotten by him
    await send("c2", "s-2", "bob", '/tool memory.search {"query":"favourite colour teal"}');
    expect(((await tool("s-2", "memory.search")) as Results).results).toEqual([]);
    await send("c2", "f-1", "bob", `/tool memory.forget {"id":"${id}"}`);
    expect(await tool("f-1", "memory.forget")).toEqual({ forgotten: false });

    // the node dies; another node on the same NATS knows it
    await claw.kill("SIGKILL");
    claw = await startClaw({ env });
    await send("c3", "s-3", "alice", '/tool memory.search {"query":"colour"}');
    expect(((await tool("s-3", "memory.search")) as Results).results.map((r) => r.id)).toEqual([id]);

    // the same call run again writes once (its id is the call's)
    await send("c1", "w-2", "alice", '/tool memory.write {"text":"my cat is called Miso"}');
    await tool("w-2", "memory.write");

    // the operator's view: one sender's scope, words to match, forget
    const alice = await api(claw, "GET", "/v1/agents/keeper/memory?channel=t&sender=alice");
    expect(alice.status).toBe(200);
    expect(alice.body.scopes).toHaveLength(1);
    expect(alice.body.scopes[0].scope).toEqual({ kind: "sender", channel: "t", sender: "alice" });
    expect(alice.body.scopes[0].memories.map((m: { text: string }) => m.text).sort()).toEqual(["my cat is called Miso", "my favourite colour is teal"]);
    const cat = await api(claw, "GET", "/v1/agents/keeper/memory?q=cat");
    expect(cat.body.scopes.flatMap((s: { memories: Array<{ text: string }> }) => s.memories.map((m) => m.text))).toEqual(["my cat is called Miso"]);
    expect((await api(claw, "GET", "/v1/agents/keeper/memory?channel=t&sender=bob")).body.scopes).toEqual([]);
    expect((await api(claw, "GET", "/v1/agents/keeper/memory?sender=alice")).status).toBe(400);
    expect((await api(claw, "GET", "/v1/agents/nobody/memory")).status).toBe(404);
    expect((await api(claw, "DELETE", `/v1/agents/keeper/memory/${id}`)).status).toBe(204);
    expect((await api(claw, "DELETE", `/v1/agents/keeper/memory/${id}`)).status).toBe(404);
    expect((await api(claw, "DELETE", "/v1/agents/keeper/memory/..%2F..")).status).toBe(404);
    await send("c4", "s-4", "alice", '/tool memory.search {"query":"colour"}');
    expect(((await tool("s-4", "memory.search")) as Results).results).toEqual([]);

    // outside a turn there is nobody to remember for
    const direct = await api(claw, "POST", "/v1/skills/memory.search/invoke", { input: { query: "colour" }, timeout_ms: 10_000 });
    expect(direct.status).toBe(422);
    expect(direct.body.error.code).toBe("denied");
    out.stop();
    await claw.kill("SIGTERM");
  }, 120_000);

  it("recalls a sender's memories into the model's context by meaning, without a tool call, and not another sender's", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using fake = await startFakeOpenAI();
    // meaning, as the fake embeds it: pets in one direction, everything else in another
    fake.embed = (text) => (/\b(dog|pet|puppy)\b/i.test(text) ? [1, 0, 0.1] : [0, 1, 0.1]);
    fake.answer = (req) => {
      const last = req.messages[req.messages.length - 1]!;
      if (last.role === "tool") return { text: "noted" };
      if (last.content?.startsWith("remember:"))
        return { toolCalls: [{ name: "memory__write", arguments: JSON.stringify({ text: last.content.slice(9).trim() }) }] };
      return { text: "ok" };
    };
    const agent = {
      id: "pal",
      model: "fake",
      system: "You are a friendly assistant.",
      skills: ["memory.write"],
      memory: { recall: 2, embeddings: "fake", embeddingsModel: "embed-1" },
    };
    await using claw = await startClaw({
      env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile({ providers: { fake: { baseURL: fake.baseURL, model: "m" } }, agents: [agent] }) },
    });
    void claw;
    const out = await collectStreamReplies(c.js, c.jsm);
    const send = (chat: string, id: string, sender: string, text: string) =>
      c.js.publish(`claw.in.t.a.${chat}`, jsonBody({ id, text, sender: { id: sender } }));

    await send("c1", "r-1", "carol", "remember: my dog is called Bruno");
    expect((await out.waitFor("r-1", 20_000)).text).toBe("noted");
    await send("c1", "r-2", "carol", "remember: my home is in Lisbon");
    expect((await out.waitFor("r-2", 20_000)).text).toBe("noted");
    expect(fake.embedded).toContain("my dog is called Bruno");

    const systemOf = (text: string) => fake.requests.find((r) => r.messages.some((m) => m.role === "user" && m.content === text))!.messages[0]!;
    // a new conversation of hers: by words alone both memories match ("my") and the newer ranks first; by meaning, the dog
    await send("c2", "r-3", "carol", "what is my pet's name?");
    await out.waitFor("r-3", 20_000);
    const system = systemOf("what is my pet's name?");
    expect(system.role).toBe("system");
    expect(system.content).toContain("You are a friendly assistant.");
    expect(system.content).toContain("Recalled memory");
    const recalled = system.content!.split("\n").filter((l) => l.startsWith("- "));
    expect(recalled).toEqual(["- my dog is called Bruno", "- my home is in Lisbon"]);
    expect(fake.embedded).toContain("what is my pet's name?");
    // dave asks the same: nothing of carol's
    await send("c2", "r-4", "dave", "what's my pet's name? my pet");
    await out.waitFor("r-4", 20_000);
    expect(systemOf("what's my pet's name? my pet").content).toBe("You are a friendly assistant.");
    out.stop();
  }, 120_000);
});
