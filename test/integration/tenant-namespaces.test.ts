/**
 * Tenants' namespaces on the bus, with real components: a tenant's MQTT
 * account (`channels[].tenant`, a real Mosquitto) routes only to that
 * tenant's agents — never to the operator's catch-all or default agent, nor
 * to another tenant's; a tenant that brings its own provider has its agents'
 * turns go there (with its own key), and the others' to the cluster's; and `claw tenants nats-config` printed into a real
 * nats-server lets a tenant's user publish into its own account's subject
 * (stored, answered) and refuses it another tenant's (a permissions violation).
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { decode, encode, inboundSubject, type Envelope } from "../../src/bus/index.js";
import { brokerMissing, startMosquitto, type Broker } from "../support/brokers.js";
import { skipWithout } from "../support/ci.js";
import { runCli } from "../support/claw-cli.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { lastUser, startFakeOpenAI, type FakeOpenAI, type FakeRequest } from "../support/fake-openai.js";
import { client, natsServer, type NatsServerProcess, type TestClient } from "../support/nats-server.js";

vi.setConfig({ testTimeout: 90_000 });

/** Whose agent a request is for: its system prompt says so (`[agent <who>]`). */
const whose = (req: FakeRequest) => /\[agent ([a-z-]+)\]/.exec(req.messages.find((m) => m.role === "system")?.content ?? "")?.[1] ?? "?";

async function writeConfig(config: unknown): Promise<string> {
  const path = join(tmpdir(), `claw-tenant-ns-${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`);
  await writeFile(path, JSON.stringify(config));
  return path;
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(skipWithout("tenant-namespaces", brokerMissing("mosquitto")))("a tenant's channel accounts", () => {
  let mosquitto: Broker;
  let nats: NatsServerProcess;
  let c: TestClient;
  let node: ClawProcess;
  let model: FakeOpenAI;
  let acmeModel: FakeOpenAI;
  let mq: mqtt.MqttClient;
  const replies: Array<{ topic: string; text: string }> = [];

  beforeAll(async () => {
    [mosquitto, nats, model, acmeModel] = await Promise.all([startMosquitto(), natsServer(), startFakeOpenAI(), startFakeOpenAI()]);
    model.answer = (req) => ({ text: `${whose(req)}: ${lastUser(req)}` });
    acmeModel.answer = model.answer;
    c = await client(nats.url);
    const mqttAccount = (topic: string, tenant?: string) => ({
      type: "mqtt",
      account: "iot",
      url: mosquitto.url,
      subscribe: [`${topic}/+`],
      ...(tenant ? { tenant } : {}),
    });
    const config = await writeConfig({
      providers: { fake: { baseURL: model.baseURL, model: "m", apiKey: "k", maxRetries: 0 } },
      // acme brings its own provider, under the same name as the cluster's: acme's agents use it, nobody else does
      tenants: [
        { id: "acme", providers: { fake: { baseURL: acmeModel.baseURL, model: "acme-m", apiKeyEnv: "ACME_OPENAI_KEY", maxRetries: 0 } } },
        { id: "beta" },
        { id: "gamma" },
      ],
      agents: [
        // the operator's: a catch-all, and the default agent
        { id: "echo", model: "fake", system: "[agent operator]" },
        { id: "support", tenant: "acme", model: "fake", system: "[agent acme]", bindings: [{ channel: "mqtt", account: "iot" }] },
        { id: "support", tenant: "beta", model: "fake", system: "[agent beta]" },
      ],
      defaultAgent: "echo",
      // three accounts named iot: acme's, beta's and the operator's; gamma has one and no agent
      channels: [mqttAccount("acme", "acme"), mqttAccount("beta", "beta"), mqttAccount("ops"), { ...mqttAccount("gamma", "gamma"), account: "iot2" }],
    });
    node = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_NODE_ID: "tn", ACME_OPENAI_KEY: "acme-key" } });
    for (const account of ["acme/iot", "beta/iot", "iot", "gamma/iot2"])
      await until(() => node.logs.some((l) => l.msg === "channel.connected" && l.account === account), `${account} connected`);
    mq = await mqtt.connectAsync(mosquitto.url, { clientId: "tenant-ns-test" });
    mq.on("message", (topic, payload) => replies.push({ topic, text: JSON.parse(payload.toString()).text }));
    await mq.subscribeAsync("+/+/reply", { qos: 1 });
  }, 150_000);
  afterAll(async () => {
    await mq?.endAsync();
    await node?.[Symbol.asyncDispose]();
    await c?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    await mosquitto?.[Symbol.asyncDispose]();
    await model?.close();
    await acmeModel?.close();
  });

  it("routes each tenant's MQTT account to its own agents, and the operator's to the operator's", async () => {
    for (const topic of ["acme/1", "beta/1", "ops/1"]) await mq.publishAsync(topic, `hello from ${topic}`, { qos: 1 });
    await until(() => replies.length >= 3, "three replies");
    expect(replies.sort((a, b) => a.topic.localeCompare(b.topic))).toEqual([
      { topic: "acme/1/reply", text: "acme: hello from acme/1" },
      { topic: "beta/1/reply", text: "beta: hello from beta/1" },
      { topic: "ops/1/reply", text: "operator: hello from ops/1" },
    ]);
    expect(node.output()).not.toContain("no_agent");
  });

  it("sends the turns of a tenant's agents to the tenant's own provider, with its own key, and everyone else's to the cluster's", () => {
    expect(acmeModel.requests.map((r) => [whose(r), r.model, r.authorization])).toEqual([["acme", "acme-m", "Bearer acme-key"]]);
    expect(model.requests.map(whose).sort()).toEqual(["beta", "operator"]);
    expect(model.requests.every((r) => r.authorization === "Bearer k")).toBe(true);
  });

  it("never gives a tenant's message to the operator's catch-all or default agent, nor to an agent of another namespace", async () => {
    const before = model.requests.length + acmeModel.requests.length;
    // gamma's account has no agent of gamma's: dead-lettered, though the operator's echo takes anything and is the default
    await mq.publishAsync("gamma/1", "anyone?", { qos: 1 });
    // a message on acme's account naming the operator's or beta's agent: as if they did not exist
    for (const agent of ["echo", "beta/support"])
      await c.js.publish(
        inboundSubject({ channel: "mqtt", account: "acme/iot", chat: `named-${agent}` }),
        encode({ text: "hi", sender: { id: "x" }, metadata: { agent } }),
      );
    const letters = await waitForDeadLetters(c.jsm, (all) => all.length >= 3, 60_000);
    const chat = (subject: string) => subject.split(".").slice(-2).join(".");
    expect(letters.map((d) => [chat(d.originalSubject), d.code]).sort()).toEqual([
      ["acme=2Fiot.named-beta=2Fsupport", "no_agent"],
      ["acme=2Fiot.named-echo", "no_agent"],
      ["gamma=2Fiot2.gamma=2F1", "no_agent"],
    ]);
    expect(model.requests.length + acmeModel.requests.length).toBe(before);
    // gamma's sender hears only that nothing could answer (the dead letter's notice), from no agent
    await until(() => replies.some((r) => r.topic === "gamma/1/reply"), "gamma's notice");
    expect(replies.filter((r) => r.topic.startsWith("gamma")).map((r) => r.text)).toEqual([
      expect.stringMatching(/^Claw could not process this message: no agent is bound to mqtt\/gamma\/iot2/),
    ]);
  });
});

describe("claw tenants nats-config", () => {
  let nats: NatsServerProcess;
  let node: ClawProcess;
  const conns: NatsConnection[] = [];
  let printed = "";

  beforeAll(async () => {
    // bus-only accounts (no adapter runs them: the tenants' own systems publish into them)
    const config = await writeConfig({
      tenants: [{ id: "acme" }, { id: "beta" }, { id: "idle" }],
      agents: [{ id: "echo" }, { id: "support", tenant: "acme" }, { id: "support", tenant: "beta" }],
      channels: [
        { type: "amqp", account: "orders", tenant: "acme", url: "amqp://127.0.0.1:1", queue: "q" },
        { type: "amqp", account: "orders", tenant: "beta", url: "amqp://127.0.0.1:1", queue: "q" },
      ],
    });
    const cli = await runCli(["tenants", "nats-config", "--config", config, "--partitions", "8"], {});
    expect(cli.code, cli.stderr).toBe(0);
    printed = cli.stdout;
    process.env.CLAW_NATS_PASSWORD = "claw-secret";
    process.env.TENANT_ACME_NATS_PASSWORD = "acme-secret";
    process.env.TENANT_BETA_NATS_PASSWORD = "beta-secret";
    process.env.TENANT_IDLE_NATS_PASSWORD = "idle-secret";
    nats = await natsServer({ partitionMapping: false, extraConfig: printed });
    const at = `127.0.0.1:${new URL(nats.url).port}`;
    // the node runs no adapter here: its accounts' AMQP URL answers nothing, which only keeps the adapters retrying
    node = await startClaw({ env: { NATS_URL: `nats://claw:claw-secret@${at}`, CLAW_CONFIG: config, CLAW_PARTITIONS: "8", CLAW_NODE_ID: "nc" } });
  }, 90_000);
  afterAll(async () => {
    for (const nc of conns) await nc.close();
    await node?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  const as = async (user: string, pass: string) => {
    const nc = await connect({ servers: new URL(nats.url).host, user, pass });
    conns.push(nc);
    return nc;
  };

  it("prints one account per tenant that imports only its own accounts' claw.in and claw.out subjects", () => {
    expect(printed).toContain('{ service: "claw.in.amqp.acme=2Forders.>", accounts: ["tenant_acme"] }');
    expect(printed).toContain('{ service: "claw.in.amqp.beta=2Forders.>", accounts: ["tenant_beta"] }');
    expect(printed).toMatch(/"tenant_idle": \{[^]*publish: \{ deny: \[">"\] \}/);
    expect(printed).toContain("$TENANT_ACME_NATS_PASSWORD");
  });

  it("lets a tenant's user publish into its own account (stored and answered by its own agent), and refuses another tenant's subject", async () => {
    const claw = await as("claw", "claw-secret");
    const answered: string[] = [];
    claw.subscribe("claw.out.>", { callback: (_e, m) => answered.push(m.subject) });
    await claw.flush();
    const acme = await as("acme", "acme-secret");
    const errors: string[] = [];
    void (async () => {
      for await (const s of acme.status()) if (s.type === "error") errors.push(String(s.error));
    })();
    const replies: Envelope[] = [];
    acme.subscribe("claw.out.amqp.acme=2Forders.>", { callback: (_e, m) => replies.push(decode<Envelope>(m.data)) });
    await acme.flush();
    const ack = await jetstream(acme).publish(
      inboundSubject({ channel: "amqp", account: "acme/orders", chat: "c1" }),
      encode({ text: "from acme's shop", sender: { id: "shop" } }),
    );
    expect(ack.stream).toBe("CLAW_IN");
    await until(() => replies.length > 0, "acme's reply");
    expect(replies[0]).toMatchObject({ text: "from acme's shop", account: "acme/orders" });

    // beta's subject: a permissions violation, and nothing stored
    await expect(
      jetstream(acme).publish(inboundSubject({ channel: "amqp", account: "beta/orders", chat: "c1" }), encode({ text: "sneaky", sender: { id: "x" } }), {
        timeout: 2_000,
      }),
    ).rejects.toThrow(/permission/i);
    acme.publish("claw.in.amqp.beta=2Forders.c2", encode({ text: "sneaky", sender: { id: "x" } }));
    acme.publish("claw.in.amqp.orders.c3", encode({ text: "the operator's", sender: { id: "x" } }));
    await acme.flush();
    await until(() => errors.filter((e) => /permissions violation/i.test(e)).length >= 2, "the permissions violations");
    expect(errors.join("\n")).toMatch(/Permissions Violation for Publish to "claw\.in\.amqp\.beta=2Forders\.c2"/);
    // beta's own user reaches its own; what the cluster answered is acme's and beta's, nothing sneaky
    const beta = await as("beta", "beta-secret");
    const ok = await jetstream(beta).publish("claw.in.amqp.beta=2Forders.c1", encode({ text: "from beta", sender: { id: "shop" } }));
    expect(ok.stream).toBe("CLAW_IN");
    await until(() => answered.some((s) => s.startsWith("claw.out.amqp.beta=2Forders.")), "beta's reply");
    await new Promise((r) => setTimeout(r, 500));
    expect(answered.sort()).toEqual(["claw.out.amqp.acme=2Forders.c1", "claw.out.amqp.beta=2Forders.c1"]);
  });

  it("gives a tenant without channel accounts nothing to publish to", async () => {
    const idle = await as("idle", "idle-secret");
    await expect(jetstream(idle).publish("claw.in.amqp.acme=2Forders.c9", encode({ text: "x", sender: { id: "x" } }), { timeout: 2_000 })).rejects.toThrow();
  });
});
