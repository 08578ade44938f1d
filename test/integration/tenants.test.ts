/**
 * Tenants on one cluster of two nodes (a real nats-server): tenants seeded
 * from `CLAW_CONFIG` and changed with `claw tenants set`; keys made with
 * `claw keys create --tenant`, and a JWT's tenant claim; two tenants each
 * with an agent `support`, each credential seeing, invoking and registering
 * only its own (the other's answers 404), its own dead letters and webhook
 * events; and `messagesPerMinute` answered 429 `quota_exceeded` with
 * `Retry-After` across both nodes while the other tenant is let through.
 * The gateway is the open loopback one: a request with no credential is the
 * operator, one with a credential is checked and its tenant applies.
 */
import { createServer, type Server } from "node:http";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { inboundSubject } from "../../src/bus/index.js";
import { runCli } from "../support/claw-cli.js";
import { httpCall } from "../support/http-call.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { lastUser, startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.js";
import { client, natsServer, type NatsServerProcess, type TestClient } from "../support/nats-server.js";

// every test here runs the CLI or two nodes' worth of requests: minutes on a loaded machine, not the default 30 s
vi.setConfig({ testTimeout: 90_000 });

const call = (node: ClawProcess, method: string, path: string, key?: string, body?: unknown) => httpCall(node, method, path, { key, body });

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("tenants", () => {
  let nats: NatsServerProcess;
  let c: TestClient;
  let a: ClawProcess;
  let b: ClawProcess;
  let issuer: Server;
  let issuerUrl: string;
  let signing: CryptoKey;
  let receiver: Server;
  let receiverUrl: string;
  let model: FakeOpenAI;
  const received: any[] = [];
  const keys: Record<string, string> = {};
  const cli = (args: string[]) => runCli(args, { NATS_URL: nats.url });

  beforeAll(async () => {
    const pair = await generateKeyPair("RS256");
    signing = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
    issuer = createServer((req, res) => {
      res.setHeader("content-type", "application/json");
      if (req.url === "/jwks") return res.end(JSON.stringify({ keys: [jwk] }));
      res.statusCode = 404;
      res.end("{}");
    });
    await new Promise<void>((r) => issuer.listen(0, "127.0.0.1", () => r()));
    issuerUrl = `http://127.0.0.1:${(issuer.address() as { port: number }).port}`;
    receiver = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      received.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      res.writeHead(200).end();
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", () => r()));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks`;

    // a provider that reports 40 prompt and 30 completion tokens a call
    model = await startFakeOpenAI();
    model.answer = (req) => ({ text: `fake: ${lastUser(req)}`, usage: { prompt: 40, completion: 30 } });
    const config = join(tmpdir(), `claw-tenants-${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`);
    await writeFile(
      config,
      JSON.stringify({
        providers: { fake: { baseURL: model.baseURL, model: "m", apiKey: "k", maxRetries: 0 } },
        tenants: [{ id: "acme", quotas: { messagesPerMinute: 6 } }, { id: "beta" }, { id: "globex", quotas: { tokensPerDay: 100 } }],
        agents: [
          { id: "support", tenant: "globex", model: "fake" },
          { id: "echo", bindings: [{ channel: "t" }] },
          { id: "support", tenant: "acme", system: "acme's support" },
          { id: "support", tenant: "beta", system: "beta's support" },
        ],
      }),
    );
    nats = await natsServer();
    c = await client(nats.url);
    const env = {
      NATS_URL: nats.url,
      CLAW_CONFIG: config,
      CLAW_JWT_ISSUER: issuerUrl,
      CLAW_JWT_AUDIENCE: "claw",
      CLAW_JWT_JWKS_URL: `${issuerUrl}/jwks`,
      CLAW_WEBHOOK_ALLOW_PRIVATE: "1",
    };
    a = await startClaw({ env: { ...env, CLAW_NODE_ID: "ta" } });
    b = await startClaw({ env: { ...env, CLAW_NODE_ID: "tb" } });
    const scopes = "agents:admin,agents:invoke,messages:write,dlq:admin,webhooks:admin,usage:read";
    for (const tenant of ["acme", "beta", "globex"]) {
      const made = await cli(["keys", "create", "--tenant", tenant, "--scopes", scopes, "--json"]);
      expect(made.code, made.stderr).toBe(0);
      expect(JSON.parse(made.stdout)).toMatchObject({ tenant, scopes: scopes.split(",") });
      keys[tenant] = JSON.parse(made.stdout).key;
    }
    const operator = await cli(["keys", "create", "--scopes", "*", "--json"]);
    keys.operator = JSON.parse(operator.stdout).key;
  }, 90_000);
  afterAll(async () => {
    await a?.[Symbol.asyncDispose]();
    await b?.[Symbol.asyncDispose]();
    await c?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    await new Promise((r) => issuer?.close(r));
    await new Promise((r) => receiver?.close(r));
    await model?.close();
  });

  it("keeps the tenants in KV: seeded from CLAW_CONFIG, changed with claw tenants set, listed with claw tenants ls", async () => {
    const listed = await cli(["tenants", "ls", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).tenants).toEqual([
      expect.objectContaining({ id: "acme", quotas: { messagesPerMinute: 6 }, source: "config" }),
      expect.objectContaining({ id: "beta", quotas: {}, source: "config" }),
      expect.objectContaining({ id: "globex", quotas: { tokensPerDay: 100 }, source: "config" }),
    ]);
    const set = await cli(["tenants", "set", "gamma", "--tokens-per-day", "1000", "--sessions", "5", "--json"]);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ id: "gamma", quotas: { tokensPerDay: 1000, sessions: 5 }, source: "cli" });
    expect((await cli(["tenants", "set", "Not A Tenant"])).code).toBe(1);
    expect((await cli(["tenants", "set", "gamma", "--sessions", "0"])).code).not.toBe(0);
    // one quota taken away (off), the other kept
    const off = await cli(["tenants", "set", "gamma", "--sessions", "off", "--json"]);
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout).quotas).toEqual({ tokensPerDay: 1000 });
    expect((await cli(["tenants", "set", "gamma", "--sessions", "many"])).stderr).toContain("--sessions: not a count of at least 1 (or off)");
    // a key for a tenant that does not exist is refused, naming it
    const nokey = await cli(["keys", "create", "--tenant", "nobody", "--scopes", "agents:invoke"]);
    expect(nokey.code).toBe(1);
    expect(nokey.stderr).toContain("no tenant nobody");
    const ls = await cli(["keys", "ls", "--json"]);
    expect(
      JSON.parse(ls.stdout)
        .keys.filter((k: { tenant?: string }) => k.tenant)
        .map((k: { tenant: string }) => k.tenant),
    ).toEqual(["acme", "beta", "globex"]);
  });

  it("shows each tenant only its own agent support, by the name it gave it; the other's answers 404", async () => {
    for (const [tenant, other] of [
      ["acme", "beta"],
      ["beta", "acme"],
    ] as const) {
      const listed = await call(a, "GET", "/v1/agents", keys[tenant]);
      expect(listed.status).toBe(200);
      expect(listed.json.agents.map((x: { spec: { id: string; tenant: string } }) => [x.spec.id, x.spec.tenant])).toEqual([["support", tenant]]);
      expect(JSON.stringify(listed.json)).not.toContain(other);
      const one = await call(b, "GET", "/v1/agents/support", keys[tenant]);
      expect(one.status).toBe(200);
      expect(one.json.spec.system).toBe(`${tenant}'s support`);
      // the operator's agent, and the other's by its stored id: as if they did not exist
      for (const id of ["echo", encodeURIComponent(`${other}/support`)]) {
        const hidden = await call(a, "GET", `/v1/agents/${id}`, keys[tenant]);
        expect(hidden.status).toBe(404);
        expect(hidden.text).not.toContain(`${other}'s`);
        expect((await call(a, "POST", `/v1/agents/${id}/invoke`, keys[tenant], { text: "hi" })).status).toBe(404);
      }
      const models = await call(a, "GET", "/v1/models", keys[tenant]);
      expect(models.json.data.map((m: { id: string }) => m.id)).toEqual(["support"]);
    }
    // the operator (no credential on the open gateway) sees them all, a tenant's by <tenant>/<id>
    const all = await call(a, "GET", "/v1/agents");
    expect(all.json.agents.map((x: { spec: { id: string } }) => x.spec.id).sort()).toEqual(["acme/support", "beta/support", "echo", "globex/support"]);
    expect((await call(a, "GET", `/v1/agents/${encodeURIComponent("acme/support")}`)).json.spec.system).toBe("acme's support");
    // a credential on the open gateway is still checked
    expect((await call(a, "GET", "/v1/agents", "claw_notakey")).status).toBe(401);
  });

  it("registers and changes a tenant's agents within its tenant only", async () => {
    const made = await call(a, "POST", "/v1/agents", keys.beta, { id: "sales", system: "beta sells" });
    expect(made.status).toBe(201);
    expect(made.json.spec).toMatchObject({ id: "sales", tenant: "beta" });
    await until(async () => (await call(b, "GET", "/v1/agents/sales", keys.beta)).status === 200, "b to see beta's sales");
    expect((await call(b, "GET", "/v1/agents/sales", keys.acme)).status).toBe(404);
    // acme's support is acme's: beta changing "support" changes its own
    const changed = await call(a, "POST", "/v1/agents", keys.beta, { id: "support", system: "beta's support, changed" });
    expect(changed.status).toBe(200);
    expect((await call(a, "GET", `/v1/agents/${encodeURIComponent("acme/support")}`)).json.spec.system).toBe("acme's support");
    // nor can it name another tenant, or reach into one by id
    const other = await call(a, "POST", "/v1/agents", keys.beta, { id: "x", tenant: "acme" });
    expect(other.status).toBe(400);
    expect(other.json.error.field).toBe("tenant");
    expect((await call(a, "POST", "/v1/agents", keys.beta, { id: "acme/support" })).status).toBe(400);
    expect((await call(a, "GET", `/v1/agents/${encodeURIComponent("acme/support")}`)).json.spec.system).toBe("acme's support");
  });

  it("invokes each tenant's own support, and a tenant's webhook gets only its own events", async () => {
    const hook = await call(a, "POST", "/v1/webhooks", keys.acme, { url: receiverUrl, events: ["reply"] });
    expect(hook.status).toBe(201);
    expect((await call(a, "GET", "/v1/webhooks", keys.beta)).json.webhooks).toEqual([]);
    expect((await call(a, "DELETE", `/v1/webhooks/${hook.json.id}`, keys.beta)).status).toBe(404);
    expect((await call(a, "GET", "/v1/webhooks", keys.acme)).json.webhooks.map((w: { id: string }) => w.id)).toEqual([hook.json.id]);

    const beta = await call(b, "POST", "/v1/agents/support/invoke", keys.beta, { text: "from beta" });
    expect(beta.status, beta.text).toBe(200);
    expect(beta.json.reply.text).toBe("from beta");
    const acme = await call(a, "POST", "/v1/agents/support/invoke", keys.acme, { text: "from acme" });
    expect(acme.status, acme.text).toBe(200);
    await until(() => received.some((r) => r.message?.text === "from acme"), "acme's reply event");
    // beta's turn came first; a moment more for anything that would follow
    await new Promise((r) => setTimeout(r, 500));
    expect(received.map((r) => [r.agent, r.message.text])).toEqual([["acme/support", "from acme"]]);
    // the operator reaches a tenant's agent by its stored id
    const op = await call(a, "POST", `/v1/agents/${encodeURIComponent("beta/support")}/invoke`, undefined, { text: "from the operator" });
    expect(op.status, op.text).toBe(200);
  });

  it("shows a tenant only the dead letters of its own agents' messages", async () => {
    const before = (await call(a, "GET", "/v1/dlq?limit=100")).json.dead_letters.length;
    await c.js.publish(inboundSubject({ channel: "http", account: "acme/support", chat: "broken" }), "not an envelope");
    await c.js.publish(inboundSubject({ channel: "t", account: "x", chat: "broken" }), "not an envelope");
    await until(async () => (await call(a, "GET", "/v1/dlq?limit=100")).json.dead_letters.length >= before + 2, "two dead letters");
    const all = (await call(a, "GET", "/v1/dlq?limit=100")).json.dead_letters as Array<{ seq: number; originalSubject: string }>;
    const acmeLetter = all.find((d) => d.originalSubject.includes("acme"))!;
    const operatorLetter = all.find((d) => d.originalSubject.includes(".t."))!;
    const acme = (await call(b, "GET", "/v1/dlq?limit=100", keys.acme)).json.dead_letters as Array<{ seq: number }>;
    expect(acme.map((d) => d.seq)).toEqual([acmeLetter.seq]);
    expect((await call(b, "GET", "/v1/dlq?limit=100", keys.beta)).json.dead_letters).toEqual([]);
    expect((await call(b, "GET", `/v1/dlq/${acmeLetter.seq}`, keys.acme)).status).toBe(200);
    expect((await call(b, "GET", `/v1/dlq/${acmeLetter.seq}`, keys.beta)).status).toBe(404);
    expect((await call(b, "GET", `/v1/dlq/${operatorLetter.seq}`, keys.acme)).status).toBe(404);
    expect((await call(b, "POST", `/v1/dlq/${operatorLetter.seq}/replay`, keys.acme, { keep: true })).status).toBe(404);
  });

  it("takes a JWT's tenant from its claim", async () => {
    const token = (claims: Record<string, unknown>) =>
      new SignJWT({ scope: "agents:admin agents:invoke", ...claims })
        .setProtectedHeader({ alg: "RS256", kid: "k1" })
        .setIssuer(issuerUrl)
        .setAudience("claw")
        .setSubject("dana")
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + 300)
        .sign(signing);
    const asBeta = await call(a, "GET", "/v1/agents", await token({ tenant: "beta" }));
    expect(asBeta.status, asBeta.text).toBe(200);
    expect(asBeta.json.agents.map((x: { spec: { id: string } }) => x.spec.id).sort()).toEqual(["sales", "support"]);
    expect((await call(a, "GET", "/v1/agents/support", await token({ tenant: "beta" }))).json.spec.tenant).toBe("beta");
    // no claim: the operator's
    const operator = await call(a, "GET", "/v1/agents", await token({}));
    expect(operator.json.agents.length).toBe(5);
    expect((await call(a, "GET", "/v1/agents", await token({ tenant: "Not/A Tenant" }))).status).toBe(401);
    // even with every scope, a tenant's credential calls only what keeps to its tenant
    const everything = await token({ tenant: "beta", scope: "*" });
    for (const path of ["/v1/channels", "/v1/schedules", "/metrics"]) {
      const r = await call(a, "GET", path, everything);
      expect(r.status, path).toBe(403);
      expect(r.json.error.code).toBe("not_for_tenants");
    }
    expect((await call(a, "POST", "/v1/skills", everything, { id: "x" })).json.error.code).toBe("not_for_tenants");
    expect((await call(a, "GET", "/v1/agents", everything)).status).toBe(200);
  });

  it("answers a tenant past messagesPerMinute 429 quota_exceeded with Retry-After, across nodes, and lets the other tenant through", async () => {
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof call>> | undefined;
    // acme's quota is 6 a minute: spent on both nodes (earlier tests took some), the next is refused
    for (let i = 0; i < 12 && !refused; i++) {
      const r = await call(i % 2 ? a : b, "POST", "/v1/agents/support/invoke", keys.acme, { text: `q${i}` });
      statuses.push(r.status);
      if (r.status === 429) refused = r;
    }
    expect(refused, `statuses ${statuses.join(",")}`).toBeDefined();
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(6);
    expect(refused!.json.error).toMatchObject({ code: "quota_exceeded", tenant: "acme" });
    expect(Number(refused!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // the other node refuses too: the quota is the cluster's
    const other = await call(statuses.length % 2 ? a : b, "POST", "/v1/agents/support/invoke", keys.acme, { text: "again" });
    expect(other.status).toBe(429);
    // and beta, with no quota, is let through at once
    expect((await call(a, "POST", "/v1/agents/support/invoke", keys.beta, { text: "still here" })).status).toBe(200);
    // the refusals are counted per tenant and quota
    const metrics = await call(a, "GET", "/metrics");
    const b2 = await call(b, "GET", "/metrics");
    expect(metrics.text + b2.text).toMatch(/claw_tenant_quota_refusals_total\{tenant="acme",quota="messagesPerMinute"\} [1-9]/);
  });

  it("refuses a tenant's turns past tokensPerDay (429, and OpenAI's shape on chat completions), and reports usage per tenant and agent", async () => {
    for (const text of ["one", "two"]) {
      const r = await call(a, "POST", "/v1/agents/support/invoke", keys.globex, { text });
      expect(r.status, r.text).toBe(200);
      expect(r.json.reply.text).toBe(`fake: ${text}`);
    }
    // both calls counted in the cluster's usage: 80 prompt and 60 completion tokens
    const report = async (node: ClawProcess, key: string | undefined, query = "") => call(node, "GET", `/v1/usage${query}`, key);
    // the turns and messages are written by each node within a second of them
    await until(
      async () => {
        const row = (await report(b, keys.globex)).json.usage[0];
        return row?.model_calls === 2 && row?.messages_out === 2;
      },
      "both calls and both replies in the usage",
      60_000,
    );
    const own = await report(b, keys.globex);
    expect(own.json.usage).toEqual([
      {
        day: new Date().toISOString().slice(0, 10),
        tenant: "globex",
        agent: "support",
        model_calls: 2,
        prompt_tokens: 80,
        completion_tokens: 60,
        turns: 2,
        skill_invocations: 0,
        skill_seconds: 0,
        messages_in: 2,
        messages_out: 2,
      },
    ]);
    expect((await report(a, keys.acme, "?tenant=globex")).status).toBe(404);
    // acme sees its own rows only (its turns earlier), none of globex's
    const acmeRows = (await report(a, keys.acme)).json.usage as Array<{ tenant: string; agent: string }>;
    expect(acmeRows.length).toBeGreaterThan(0);
    expect(acmeRows.every((r) => r.tenant === "acme" && r.agent === "support")).toBe(true);
    const operator = await report(a, undefined, "?tenant=globex&agent=globex%2Fsupport");
    expect(operator.json.usage.map((r: { agent: string; model_calls: number }) => [r.agent, r.model_calls])).toEqual([["globex/support", 2]]);
    expect((await report(a, undefined, "?from=2026-13-01")).status).toBe(400);
    const cliReport = await cli(["usage", "--tenant", "globex", "--json"]);
    expect(cliReport.code, cliReport.stderr).toBe(0);
    expect(JSON.parse(cliReport.stdout).usage).toEqual([expect.objectContaining({ agent: "globex/support", promptTokens: 80, completionTokens: 60 })]);

    // 140 tokens of 100 used: refused until the day rolls over, on either node (each reads the count at most a second old)
    await new Promise((r) => setTimeout(r, 1_100));
    const before = model.requests.length;
    for (const node of [a, b]) {
      const refused = await call(node, "POST", "/v1/agents/support/invoke", keys.globex, { text: "three" });
      expect(refused.status).toBe(429);
      expect(refused.json.error).toMatchObject({ code: "quota_exceeded", tenant: "globex" });
      const retry = Number(refused.headers.get("retry-after"));
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(86_400);
      const chat = await call(node, "POST", "/v1/chat/completions", keys.globex, { model: "support", messages: [{ role: "user", content: "hi" }] });
      expect(chat.status).toBe(429);
      expect(chat.json.error).toMatchObject({ code: "quota_exceeded", type: "insufficient_quota", message: expect.stringContaining("tokens") });
    }
    expect(model.requests.length).toBe(before);
    // another tenant is not slowed
    expect((await call(a, "POST", "/v1/agents/support/invoke", keys.beta, { text: "beta still" })).status).toBe(200);
    const metrics = (await call(a, "GET", "/metrics")).text + (await call(b, "GET", "/metrics")).text;
    const prompt = [...metrics.matchAll(/claw_tenant_tokens_total\{tenant="globex",kind="prompt"\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(prompt).toBe(80);
    expect(metrics).toMatch(/claw_tenant_quota_refusals_total\{tenant="globex",quota="tokensPerDay"\} [1-9]/);
  });
});
