/**
 * The agents in KV `claw_registry`: seeded from `CLAW_CONFIG`, registered and
 * changed through `/v1/agents`, applied on every node without a restart.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { startClaw } from "../support/claw-node.js";
import { client, natsServer } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody } from "../support/replies.js";

async function configFile(config: unknown): Promise<string> {
  const path = join(tmpdir(), `claw-agents-api-${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`);
  await writeFile(path, JSON.stringify(config));
  return path;
}

async function api(port: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

describe("agents in the registry", () => {
  it("registers an agent through one node and every node answers with it, no restart", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const config = await configFile({ agents: [{ id: "echo", bindings: [{ channel: "t" }] }] });
    await using a = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_NODE_ID: "a" } });
    await using b = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_NODE_ID: "b" } });
    const out = await collectStreamReplies(c.js, c.jsm);

    // seeded from the file
    const listed = await api(a.httpPort, "GET", "/v1/agents");
    expect(listed.status).toBe(200);
    expect(listed.body.agents.map((x: { spec: { id: string }; source: string }) => [x.spec.id, x.source])).toEqual([["echo", "config"]]);

    // invalid: refused with the field named
    const bad = await api(a.httpPort, "POST", "/v1/agents", { id: "bad id!" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: "invalid_agent", field: "id" });
    const noProvider = await api(a.httpPort, "POST", "/v1/agents", { id: "x", model: "gpt-nope" });
    expect(noProvider.status).toBe(400);
    expect(noProvider.body.error).toMatchObject({ field: "model" });
    expect(noProvider.body.error.message).toContain("no provider named gpt-nope");

    // registered on a, bound ahead of echo for chats of channel s
    const created = await api(a.httpPort, "POST", "/v1/agents", { id: "support", priority: -1, bindings: [{ channel: "t", chat: "help" }], system: "be kind" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ spec: { id: "support", system: "be kind" }, source: "api", priority: -1 });
    // b knows it within a moment, and a message through b's partitions reaches it
    for (let i = 0; (await api(b.httpPort, "GET", "/v1/agents/support")).status !== 200; i++) {
      if (i > 100) throw new Error("node b never saw the new agent");
      await new Promise((r) => setTimeout(r, 20));
    }
    await c.js.publish("claw.in.t.x.help", jsonBody({ id: "h-1", text: "hi", sender: { id: "u" } }));
    await c.js.publish("claw.in.t.x.other", jsonBody({ id: "h-2", text: "hi", sender: { id: "u" } }));
    expect((await out.waitFor("h-1")).sender.id).toBe("support");
    expect((await out.waitFor("h-2")).sender.id).toBe("echo");
    const invoked = await api(b.httpPort, "POST", "/v1/agents/support/invoke", { text: "via b" });
    expect(invoked).toMatchObject({ status: 200, body: { reply: { text: "via b" } } });

    // updated: 200, and the update wins over the file on the next start
    expect((await api(b.httpPort, "POST", "/v1/agents", { id: "echo", historyLimit: 4, bindings: [{ channel: "t" }] })).status).toBe(200);
    await a.kill("SIGTERM");
    await using a2 = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_NODE_ID: "a2" } });
    const echo = await api(a2.httpPort, "GET", "/v1/agents/echo");
    expect(echo.body).toMatchObject({ source: "api", spec: { historyLimit: 4 } });
    expect((await api(a2.httpPort, "GET", "/v1/agents/nope")).status).toBe(404);
    out.stop();
  }, 60_000);

  it("answers with the most specific binding: a registered agent is never shadowed by the seeded echo (issue 26)", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    // a registry an older Claw seeded: echo bound to everything, at priority 0 (ahead of anything registered)
    const kv = await new Kvm(c.nc).create("claw_registry", { history: 5 });
    const legacy = {
      id: "echo",
      kind: "assistant",
      model: "scripted",
      fallbacks: [],
      skills: [],
      maxToolRounds: 8,
      toolTimeoutMs: 60_000,
      interrupt: false,
      scope: "chat",
      historyLimit: 20,
      historyTokens: 8_000,
      summarize: false,
      bindings: [{ channel: "*", account: "*", chat: "*", sender: "*", metadata: {} }],
    };
    await kv.put("agents.echo", JSON.stringify({ spec: legacy, source: "config", priority: 0, updatedAt: 1 }));
    await using node = await startClaw({ env: { NATS_URL: nats.url } });
    const out = await collectStreamReplies(c.js, c.jsm);
    const send = async (id: string, account: string) => {
      const r = await api(node.httpPort, "POST", "/v1/messages", { channel: "web", account, chat: "c1", text: "hi", sender: { id: "u" }, idempotency_key: id });
      expect(r.status).toBe(202);
      return (await out.waitFor(id)).sender.id;
    };
    expect((await api(node.httpPort, "POST", "/v1/agents", { id: "sleeper", bindings: [{ channel: "web", account: "demo2" }] })).status).toBe(201);
    expect(await send("m-1", "demo2")).toBe("sleeper");
    expect(await send("m-2", "demo3")).toBe("echo");
    // a registered catch-all comes before the seeded one too
    expect((await api(node.httpPort, "POST", "/v1/agents", { id: "general" })).status).toBe(201);
    expect(await send("m-3", "demo3")).toBe("general");
    expect(await send("m-4", "demo2")).toBe("sleeper");
    // the effective order, as it is tried
    const listed = await api(node.httpPort, "GET", "/v1/agents");
    expect(listed.body.agents.map((a: { spec: { id: string } }) => a.spec.id)).toEqual(["sleeper", "general", "echo"]);
    expect(listed.body.routing).toEqual([
      { agent: "sleeper", match: "account", binding: { channel: "web", account: "demo2", chat: "*", sender: "*", metadata: {} } },
      { agent: "general", match: "any", binding: { channel: "*", account: "*", chat: "*", sender: "*", metadata: {} } },
      { agent: "echo", match: "any", binding: { channel: "*", account: "*", chat: "*", sender: "*", metadata: {} } },
    ]);
    out.stop();
  }, 60_000);

  it("refuses an agent with a field it does not have, naming it (issue 26)", async () => {
    await using nats = await natsServer();
    await using node = await startClaw({ env: { NATS_URL: nats.url } });
    const typo = await api(node.httpPort, "POST", "/v1/agents", { id: "typo", approvee: ["bash"] });
    expect(typo.status).toBe(400);
    expect(typo.body.error).toMatchObject({ code: "invalid_agent", field: "approvee" });
    const binding = await api(node.httpPort, "POST", "/v1/agents", { id: "typo", bindings: [{ chanel: "web" }] });
    expect(binding.status).toBe(400);
    expect(binding.body.error).toMatchObject({
      code: "invalid_agent",
      field: "bindings.0.chanel",
      message: "bindings.0.chanel: unknown field: did you mean channel?",
    });
    expect((await api(node.httpPort, "GET", "/v1/agents/typo")).status).toBe(404);
  }, 60_000);

  it("seeds a changed file's agents and removes those it no longer lists", async () => {
    await using nats = await natsServer();
    const first = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile({ agents: [{ id: "one" }, { id: "two" }] }) } });
    await first.kill("SIGTERM");
    await using second = await startClaw({
      env: { NATS_URL: nats.url, CLAW_CONFIG: await configFile({ agents: [{ id: "two", historyLimit: 2 }, { id: "three" }] }) },
    });
    const listed = await api(second.httpPort, "GET", "/v1/agents");
    expect(listed.body.agents.map((x: { spec: { id: string; historyLimit: number } }) => [x.spec.id, x.spec.historyLimit])).toEqual([
      ["two", 2],
      ["three", 20],
    ]);
    // a node without a file leaves a populated registry alone
    await using third = await startClaw({ env: { NATS_URL: nats.url } });
    expect((await api(third.httpPort, "GET", "/v1/agents")).body.agents).toHaveLength(2);
  }, 60_000);
});
