/**
 * `metadata.agent` cannot pick an agent past its bindings (F5 of the red
 * team's findings), with a real node, keys made with `claw keys` and NATS
 * accounts as `nats/claw-accounts.conf` ships them: the agent `internal` is
 * bound only to the channel `internal-only`. A shop whose NATS account may
 * publish only to `claw.in.shop.>`, and a `messages:write` key over `/v1/ws`
 * and `POST /v1/messages`, name it: it does not answer (the message is
 * dead-lettered `agent_not_bound`, or refused 403 at the gateway). Invoking
 * it with `agents:invoke:internal` still works: its own HTTP account admits it.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { decode, type Envelope } from "../../src/bus/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { runCli } from "../support/claw-cli.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";

const ACCOUNTS = fileURLToPath(new URL("../../nats/claw-accounts.conf", import.meta.url));

describe("an agent named in metadata.agent", () => {
  let nats: NatsServerProcess;
  let node: ClawProcess;
  let claw: NatsConnection;
  let shop: NatsConnection;
  let clawUrl: string;
  const answered: Array<Envelope & { subject: string }> = [];
  beforeAll(async () => {
    process.env.CLAW_NATS_PASSWORD = "claw-secret";
    process.env.SHOP_NATS_PASSWORD = "shop-secret";
    nats = await natsServer({ partitionMapping: false, extraConfig: await readFile(ACCOUNTS, "utf8") });
    const at = `127.0.0.1:${new URL(nats.url).port}`;
    clawUrl = `nats://claw:claw-secret@${at}`;
    const config = join(tmpdir(), `claw-named-agent-${process.pid}.json`);
    await writeFile(config, JSON.stringify({ agents: [{ id: "echo" }, { id: "internal", skills: ["bash"], bindings: [{ channel: "internal-only" }] }] }));
    node = await startClaw({ env: { NATS_URL: clawUrl, CLAW_CONFIG: config, CLAW_AUTH: "required" } });
    claw = await connect({ servers: at, user: "claw", pass: "claw-secret" });
    shop = await connect({ servers: at, user: "shop", pass: "shop-secret" });
    claw.subscribe("claw.out.>", { callback: (_e, m) => answered.push({ ...decode<Envelope>(m.data), subject: m.subject }) });
    await claw.flush();
  }, 60_000);
  afterAll(async () => {
    await shop?.close();
    await claw?.close();
    await node?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  const replyTo = async (id: string) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = answered.find((a) => a.replyTo === id);
      if (r) return r;
      if (Date.now() > deadline) throw new Error(`no reply to ${id}: ${node.output().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const key = async (scopes: string) => {
    const r = await runCli(["keys", "create", "--scopes", scopes, "--json"], { NATS_URL: clawUrl });
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { key: string }).key;
  };

  it("does not let a publisher limited to its channel reach an agent bound elsewhere", async () => {
    await jetstream(shop).publish(
      "claw.in.shop.web.order-9",
      JSON.stringify({ id: "shop-1", text: "run something", sender: { id: "c1" }, metadata: { agent: "internal" } }),
    );
    const notice = await replyTo("shop-1");
    expect(notice).toMatchObject({ kind: "error", sender: { id: expect.not.stringMatching(/^internal$/) } });
    const dead = await waitForDeadLetters(await jetstreamManager(claw), (all) => all.some((d) => d.msgId === "shop-1"));
    expect(dead.find((d) => d.msgId === "shop-1")).toMatchObject({ code: "agent_not_bound", field: "metadata.agent" });
    // an agent bound there may be named
    await jetstream(shop).publish(
      "claw.in.shop.web.order-9",
      JSON.stringify({ id: "shop-2", text: "hello", sender: { id: "c1" }, metadata: { agent: "echo" } }),
    );
    expect(await replyTo("shop-2")).toMatchObject({ kind: "reply", text: "hello", sender: { id: "echo" } });
    expect(answered.filter((a) => a.sender.id === "internal")).toEqual([]);
  }, 30_000);

  it("does not let a messages:write key name it over /v1/ws or POST /v1/messages", async () => {
    const writer = await key("messages:write");
    const base = `http://127.0.0.1:${node.httpPort}`;
    const ws = new WebSocket(`${base.replace("http", "ws")}/v1/ws?session=w1`, { headers: { authorization: `Bearer ${writer}` } });
    const frames: Array<Record<string, unknown>> = [];
    ws.on("message", (d) => frames.push(JSON.parse(d.toString()) as Record<string, unknown>));
    await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
    ws.send(JSON.stringify({ id: "ws-1", text: "run something", metadata: { agent: "internal" } }));
    const deadline = Date.now() + 10_000;
    while (!frames.some((f) => f.type === "error" || f.type === "accepted") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(frames.find((f) => f.type === "error" || f.type === "accepted")).toMatchObject({
      type: "error",
      code: "forbidden",
      field: "metadata.agent",
      id: "ws-1",
    });
    ws.close();
    const posted = await fetch(`${base}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${writer}`, "content-type": "application/json" },
      body: JSON.stringify({ channel: "http", account: "internal", chat: "x", text: "run something", metadata: { agent: "internal" } }),
    });
    expect(posted.status).toBe(403);
    expect(((await posted.json()) as { error: { field: string } }).error.field).toBe("metadata.agent");

    // with agents:invoke:internal the name is taken, and ingress still asks the bindings: ws is not internal's channel
    const invoker = await key("messages:write,agents:invoke:internal");
    const ws2 = new WebSocket(`${base.replace("http", "ws")}/v1/ws?session=w2`, { headers: { authorization: `Bearer ${invoker}` } });
    await new Promise((r, j) => (ws2.once("open", r), ws2.once("error", j)));
    ws2.send(JSON.stringify({ id: "ws-2", text: "run something", metadata: { agent: "internal" } }));
    expect(await replyTo("ws-2")).toMatchObject({ kind: "error" });
    ws2.close();
    // and its own way in, the invoke endpoint, reaches it
    const invoked = await fetch(`${base}/v1/agents/internal/invoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${invoker}`, "content-type": "application/json" },
      body: JSON.stringify({ text: "hi internal" }),
    });
    expect(invoked.status).toBe(200);
    expect(((await invoked.json()) as { reply: { text: string } }).reply.text).toBe("hi internal");
    expect(answered.filter((a) => a.sender.id === "internal").map((a) => a.text)).toEqual(["hi internal"]);
  }, 30_000);
});
