/**
 * Every endpoint's tenant filter, walked from `/openapi.json` on a real node:
 * a tenant's credential (with every scope) either gets 403 `not_for_tenants`,
 * or the route is tenant-aware (tenant-scope.ts `TENANT_ROUTES`) and a check
 * here shows its filter — acme's key sees and reaches acme's own, and nothing
 * of beta's or the operator's. A route added later with neither (not refused,
 * no check), a public route nobody decided on, or a check of a route that is
 * no longer tenant-aware fails the walk.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { Kvm } from "@nats-io/kv";
import { BUCKETS, decodeToken, encodeToken, inboundSubject, parseOutboundSubject } from "../../src/bus/index.js";
import { TENANT_ROUTES } from "../../src/gateway/tenant-scope.js";
import { publishReply } from "../support/channels.js";
import { runCli } from "../support/claw-cli.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { clawClient, status } from "../support/grpc-client.js";
import { httpCall } from "../support/http-call.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { client, natsServer, type NatsServerProcess, type TestClient } from "../support/nats-server.js";

vi.setConfig({ testTimeout: 120_000 });

type Reply = { status: number; json: any; text: string };

/** Routes anyone may call without a credential: each shows nothing of any tenant (decided here, one by one). */
const PUBLIC: Record<string, string> = {
  "GET /healthz": "the process is sound",
  "GET /readyz": "the node is ready",
  "POST /v1/webhooks/{type}/{account}": "a platform's signed delivery into a channel account, checked by its adapter",
  "GET /v1/media/{id}": "a medium a skill made, read by the unguessable id its link carries (a capability); nothing lists them",
};

describe("every endpoint's tenant filter, walked from /openapi.json", () => {
  let nats: NatsServerProcess;
  let c: TestClient;
  let node: ClawProcess;
  const keys: Record<string, string> = {};

  const call = (method: string, path: string, key?: string, body?: unknown): Promise<Reply> => httpCall(node, method, path, { key, body });
  const acme = (method: string, path: string, body?: unknown) => call(method, path, keys.acme, body);
  const operator = (method: string, path: string, body?: unknown) => call(method, path, undefined, body);
  /** a dead letter of the operator's (a message on an operator's account that is not an envelope) */
  let operatorLetter: number;

  /** The check of each tenant-aware route: what acme's key reaches of its own, and that nothing of beta's or the operator's answers. */
  const CHECKS: Record<string, () => Promise<void>> = {
    "POST /v1/messages": async () => {
      expect((await acme("POST", "/v1/messages", { account: "support", chat: "c1", text: "hi" })).status).toBe(202);
      for (const account of ["echo", "beta/support"]) expect((await acme("POST", "/v1/messages", { account, chat: "c1", text: "hi" })).status).toBe(404);
      expect((await acme("POST", "/v1/messages", { channel: "t", account: "x", chat: "c1", text: "hi" })).status).toBe(403);
    },
    "POST /v1/chat/completions": async () => {
      const ask = (model: string) => acme("POST", "/v1/chat/completions", { model, messages: [{ role: "user", content: "hello" }] });
      const own = await ask("support");
      expect(own.status, own.text).toBe(200);
      expect(own.json.choices[0].message.content).toBe("hello");
      for (const model of ["echo", "beta/support"]) expect((await ask(model)).status).toBe(404);
    },
    "POST /v1/responses": async () => {
      const own = await acme("POST", "/v1/responses", { model: "support", input: "hello" });
      expect(own.status, own.text).toBe(200);
      for (const model of ["echo", "beta/support"]) expect((await acme("POST", "/v1/responses", { model, input: "hello" })).status).toBe(404);
    },
    "GET /v1/models": async () => {
      expect((await acme("GET", "/v1/models")).json.data.map((m: { id: string }) => m.id).sort()).toEqual(["sales", "support"]);
    },
    "GET /v1/models/{id}": async () => {
      expect((await acme("GET", "/v1/models/support")).status).toBe(200);
      for (const id of ["echo", encodeURIComponent("beta/support")]) expect((await acme("GET", `/v1/models/${id}`)).status).toBe(404);
    },
    "POST /v1/agents/{id}/invoke": async () => {
      const own = await acme("POST", "/v1/agents/support/invoke", { text: "ping" });
      expect(own.status, own.text).toBe(200);
      expect(own.json.reply.text).toBe("ping");
      for (const id of ["echo", encodeURIComponent("beta/support")]) expect((await acme("POST", `/v1/agents/${id}/invoke`, { text: "x" })).status).toBe(404);
    },
    "GET /v1/agents": async () => {
      const ids = (await acme("GET", "/v1/agents")).json.agents.map((a: { spec: { id: string } }) => a.spec.id);
      expect(ids.sort()).toEqual(["sales", "support"]);
    },
    "POST /v1/agents": async () => {
      const made = await acme("POST", "/v1/agents", { id: "sales" });
      expect(made.status, made.text).toBe(201);
      expect(made.json.spec).toMatchObject({ id: "sales", tenant: "acme" });
      expect((await operator("GET", `/v1/agents/${encodeURIComponent("acme/sales")}`)).status).toBe(200);
      expect((await acme("POST", "/v1/agents", { id: "x", tenant: "beta" })).status).toBe(400);
    },
    "GET /v1/agents/{id}": async () => {
      expect((await acme("GET", "/v1/agents/support")).json.spec).toMatchObject({ id: "support", tenant: "acme" });
      for (const id of ["echo", encodeURIComponent("beta/support")]) expect((await acme("GET", `/v1/agents/${id}`)).status).toBe(404);
    },
    // the skills are the cluster's, shared: a tenant reads and invokes them as the operator does (registering one is refused)
    "GET /v1/skills": async () => {
      const own = await acme("GET", "/v1/skills");
      expect(own.status).toBe(200);
      expect(own.json).toEqual((await operator("GET", "/v1/skills")).json);
    },
    "GET /v1/skills/{id}": async () => {
      const first = (await operator("GET", "/v1/skills")).json.skills[0].id as string;
      expect((await acme("GET", `/v1/skills/${encodeURIComponent(first)}`)).status).toBe(200);
    },
    "POST /v1/skills/{id}/invoke": async () => {
      const r = await acme("POST", "/v1/skills/no.such.skill/invoke", { input: {} });
      expect(r.status, r.text).toBe(404);
    },
    "GET /v1/dlq": async () => {
      expect((await operator("GET", "/v1/dlq?limit=100")).json.dead_letters.map((d: { seq: number }) => d.seq)).toContain(operatorLetter);
      expect((await acme("GET", "/v1/dlq?limit=100")).json.dead_letters).toEqual([]);
    },
    "GET /v1/dlq/{seq}": async () => {
      expect((await operator("GET", `/v1/dlq/${operatorLetter}`)).status).toBe(200);
      expect((await acme("GET", `/v1/dlq/${operatorLetter}`)).status).toBe(404);
    },
    "POST /v1/dlq/{seq}/replay": async () => {
      expect((await acme("POST", `/v1/dlq/${operatorLetter}/replay`, { keep: true })).status).toBe(404);
    },
    "POST /v1/webhooks": async () => {
      const made = await acme("POST", "/v1/webhooks", { url: "http://127.0.0.1:9/hooks", events: ["reply"] });
      expect(made.status, made.text).toBe(201);
      keys.hook = made.json.id;
    },
    "GET /v1/webhooks": async () => {
      expect((await acme("GET", "/v1/webhooks")).json.webhooks.map((w: { id: string }) => w.id)).toEqual([keys.hook]);
      expect((await call("GET", "/v1/webhooks", keys.beta)).json.webhooks).toEqual([]);
    },
    "DELETE /v1/webhooks/{id}": async () => {
      expect((await call("DELETE", `/v1/webhooks/${keys.hook}`, keys.beta)).status).toBe(404);
      expect((await acme("DELETE", `/v1/webhooks/${keys.hook}`)).status).toBe(204);
    },
    "GET /v1/usage": async () => {
      expect((await acme("GET", "/v1/usage")).status).toBe(200);
      expect((await acme("GET", "/v1/usage?tenant=beta")).status).toBe(404);
    },
    // a tenant's web chats are on its own accounts: acme's `web` is acme/web, answered by acme's agents, apart from beta's `web`
    "GET /v1/ws": async () => {
      const out: string[] = [];
      const sub = c.nc.subscribe("claw.out.ws.>", { callback: (_e, m) => out.push(parseOutboundSubject(m.subject)!.account) });
      await c.nc.flush();
      const chat = async (key: string, query = "") => {
        const ws = new WebSocket(`ws://127.0.0.1:${node.httpPort}/v1/ws${query}`, { headers: { authorization: `Bearer ${key}` } });
        const frames: Array<Record<string, unknown>> = [];
        ws.on("message", (d) => frames.push(JSON.parse(d.toString())));
        await new Promise<void>((resolve, reject) => {
          ws.once("open", () => resolve());
          ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
          ws.once("error", reject);
        });
        const next = async (type: string) => {
          const end = Date.now() + 30_000;
          for (;;) {
            const f = frames.find((x) => x.type === type);
            if (f) return f;
            if (Date.now() > end) throw new Error(`no ${type} frame: ${JSON.stringify(frames)}`);
            await new Promise((r) => setTimeout(r, 20));
          }
        };
        return { ws, next };
      };
      for (const [tenant, text] of [
        ["acme", "web hello from acme"],
        ["beta", "web hello from beta"],
      ] as const) {
        const { ws, next } = await chat(keys[tenant]!);
        expect((await next("hello")).account).toBe("web");
        ws.send(JSON.stringify({ text }));
        expect((await next("reply")).text).toBe(text);
        ws.close();
      }
      await expect(chat(keys.acme!, "?account=beta%2Fweb")).rejects.toThrow(/upgrade refused: 400/);
      sub.unsubscribe();
      expect(out.sort()).toEqual(["acme/web", "beta/web"]);

      // gRPC Replies passes the same rule: a tenant reads its own accounts' replies, by the names it gave them
      const g = clawClient(`127.0.0.1:${node.grpcPort}`);
      try {
        await publishReply(nats.url, "feed", "news", "c9", { text: "the operator's" });
        await publishReply(nats.url, "feed", "beta/news", "c9", { text: "beta's" });
        await publishReply(nats.url, "feed", "acme/news", "c9", { text: "acme's" });
        const read = await g.stream<{ account: string; text: string }>(
          "Replies",
          { channel: "feed", account: "news", chat: "c9", consumer: "acme-feed" },
          { bearer: keys.acme, until: (got) => got.length >= 1, deadlineMs: 30_000 },
        );
        expect(read.messages.map((m) => [m.account, m.text])).toEqual([["acme/news", "acme's"]]);
        const other = await g.stream("Replies", { channel: "feed", account: "beta/news", chat: "c9", consumer: "x" }, { bearer: keys.acme, deadlineMs: 5_000 });
        expect(other.status).toBe(status.INVALID_ARGUMENT);
      } finally {
        g.close();
      }
    },
    "GET /openapi.json": async () => {
      expect((await acme("GET", "/openapi.json")).status).toBe(200);
    },
  };

  beforeAll(async () => {
    const config = join(tmpdir(), `claw-tenant-openapi-${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`);
    await writeFile(
      config,
      JSON.stringify({
        tenants: [{ id: "acme" }, { id: "beta" }],
        agents: [{ id: "echo" }, { id: "support", tenant: "acme" }, { id: "support", tenant: "beta" }],
      }),
    );
    nats = await natsServer();
    c = await client(nats.url);
    node = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_NODE_ID: "to", CLAW_WEBHOOK_ALLOW_PRIVATE: "1" } });
    // an operator's dead letter, published first: it is dead-lettered while the keys are made
    await c.js.publish(inboundSubject({ channel: "t", account: "x", chat: "broken" }), "not an envelope");
    for (const tenant of ["acme", "beta"]) {
      const made = await runCli(["keys", "create", "--tenant", tenant, "--scopes", "*", "--json"], { NATS_URL: nats.url });
      expect(made.code, made.stderr).toBe(0);
      keys[tenant] = JSON.parse(made.stdout).key;
    }
    // a loaded machine may take a while to give the single node its partitions
    operatorLetter = (await waitForDeadLetters(c.jsm, (all) => all.length >= 1, 90_000))[0]!.seq;
  }, 180_000);
  afterAll(async () => {
    await node?.[Symbol.asyncDispose]();
    await c?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it("refuses a tenant every route that is not tenant-aware (403 not_for_tenants), and checks the filter of every one that is", async () => {
    const doc = (await operator("GET", "/openapi.json")).json as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path.replace("{rest}", "{rest*}")}`, path, method, op })),
    );
    expect(routes.length).toBeGreaterThan(30);
    const decided: Record<string, string> = {};
    // the checks in an order that builds on itself: a webhook is made, listed, then removed; an agent registered before the lists
    const rank = (key: string) => (key === "POST /v1/agents" || key === "POST /v1/webhooks" ? 0 : key === "DELETE /v1/webhooks/{id}" ? 2 : 1);
    const tenantAware = routes.filter((r) => TENANT_ROUTES.has(r.key)).sort((a, b) => rank(a.key) - rank(b.key) || a.key.localeCompare(b.key));
    for (const r of tenantAware) {
      const check = CHECKS[r.key];
      expect(check, `${r.key} is tenant-aware (TENANT_ROUTES) but no check here shows its filter`).toBeDefined();
      await check!();
      decided[r.key] = "tenant-aware, checked";
    }
    for (const r of routes.filter((x) => !TENANT_ROUTES.has(x.key))) {
      if (Array.isArray(r.op.security) && r.op.security.length === 0) {
        expect(PUBLIC[r.key], `${r.key} is public: decide whether it shows anything of a tenant, and list it in PUBLIC`).toBeDefined();
        decided[r.key] = "public";
        continue;
      }
      // any value for a path parameter: the refusal comes before the route's handler
      const path = r.path.replace(/\{[^}]+\}/g, "x");
      const got = await call(r.key.split(" ")[0]!, path, keys.acme, r.method === "get" || r.method === "delete" ? undefined : {});
      expect([got.status, got.json?.error?.code], `${r.key} answered a tenant's credential ${got.status} ${got.text.slice(0, 200)}`).toEqual([
        403,
        "not_for_tenants",
      ]);
      decided[r.key] = "not_for_tenants";
    }
    // every route decided, and no check or public entry of a route that is not (or no longer) one
    expect(Object.keys(decided).sort()).toEqual(routes.map((r) => r.key).sort());
    expect(Object.keys(CHECKS).filter((k) => !TENANT_ROUTES.has(k))).toEqual([]);
    expect(Object.keys(PUBLIC).filter((k) => !routes.some((r) => r.key === k) || TENANT_ROUTES.has(k))).toEqual([]);
  });

  it("leaves claw inspect to the operator, who reads a tenant's session by its agent's stored id", async () => {
    const r = await acme("POST", "/v1/agents/support/invoke", { text: "inspect me", session: "insp" });
    expect(r.status, r.text).toBe(200);
    const kv = await new Kvm(c.nc).open(BUCKETS.sessions);
    let key: string | undefined;
    const end = Date.now() + 30_000;
    while (!key && Date.now() < end) {
      for await (const k of await kv.keys(`${encodeToken("acme/support")}.>`)) if (decodeToken(k.split(".")[1]!).includes("insp")) key = k;
      if (!key) await new Promise((res) => setTimeout(res, 100));
    }
    expect(key).toBeDefined();
    const inspected = await runCli(["inspect", "acme/support", decodeToken(key!.split(".")[1]!), "--json"], { NATS_URL: nats.url });
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(inspected.stdout).history)).toContain("inspect me");
  });
});
