/**
 * Tenants' quotas where turns run, on a cluster of two nodes (a real
 * nats-server): a tenant past `tokensPerDay` has its turns from the bus
 * refused with an error notice (`quota_exceeded`); past `sessions` a new
 * session is refused 429 on invoke and chat completions on either node while
 * the counted ones keep working; past `concurrentTurns` and
 * `messagesPerMinute` turns wait and are all answered; and a second tenant's
 * invoke latency, measured against a baseline in the same test, stays the
 * same while the first has a backlog waiting. And the usage each agent's
 * turns, skill runs and messages add to `GET /v1/usage` and `claw usage`.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { encode, inboundSubject, type Envelope } from "../../src/bus/index.js";
import { runCli } from "../support/claw-cli.js";
import { httpCall } from "../support/http-call.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { lastUser, startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.js";
import { client, natsServer, type NatsServerProcess, type TestClient } from "../support/nats-server.js";
import { collectReplies, type ReplyCollector } from "../support/replies.js";

vi.setConfig({ testTimeout: 120_000 });

const call = (node: ClawProcess, method: string, path: string, body?: unknown) => httpCall(node, method, path, { body });

/** a series summed over both nodes (0 where a node has none yet) */
async function total(nodes: ClawProcess[], series: string): Promise<number> {
  let n = 0;
  for (const node of nodes) {
    const text = await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(series + " "));
    if (line) n += Number(line.split(" ").at(-1));
  }
  return n;
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const invokePath = (tenant: string) => `/v1/agents/${encodeURIComponent(`${tenant}/support`)}/invoke`;

describe("tenants' quotas where turns run", () => {
  let nats: NatsServerProcess;
  let c: TestClient;
  let a: ClawProcess;
  let b: ClawProcess;
  let model: FakeOpenAI;
  let replies: ReplyCollector;

  /** publishes a message to a tenant's support from outside (the bus), as a channel or another system would */
  async function fromBus(tenant: string, chat: string, text: string): Promise<string> {
    const id = `${tenant}-${chat}-${Math.random().toString(36).slice(2, 8)}`;
    await c.js.publish(
      inboundSubject({ channel: "http", account: `${tenant}/support`, chat }),
      encode({ id, text, sender: { id: "u" }, metadata: { agent: `${tenant}/support` } }),
    );
    return id;
  }

  beforeAll(async () => {
    model = await startFakeOpenAI();
    model.answer = (req) => ({ text: `fake: ${lastUser(req)}`, usage: { prompt: 40, completion: 30 } });
    const config = join(tmpdir(), `claw-tenant-quotas-${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`);
    await writeFile(
      config,
      JSON.stringify({
        providers: { fake: { baseURL: model.baseURL, model: "m", apiKey: "k", maxRetries: 0 } },
        tenants: [
          { id: "globex", quotas: { tokensPerDay: 100 } },
          { id: "few", quotas: { sessions: 2 } },
          { id: "slow", quotas: { concurrentTurns: 2 } },
          { id: "chatty", quotas: { messagesPerMinute: 12 } },
          { id: "beta" },
          { id: "metered" },
        ],
        agents: [
          { id: "support", tenant: "globex", model: "fake" },
          { id: "support", tenant: "few" },
          { id: "support", tenant: "slow" },
          { id: "support", tenant: "chatty" },
          { id: "support", tenant: "beta" },
          { id: "support", tenant: "metered", skills: ["time.sleep"], toolTimeoutMs: 20_000 },
        ],
      }),
    );
    nats = await natsServer();
    c = await client(nats.url);
    const env = { NATS_URL: nats.url, CLAW_CONFIG: config };
    a = await startClaw({ env: { ...env, CLAW_NODE_ID: "qa" } });
    b = await startClaw({ env: { ...env, CLAW_NODE_ID: "qb" } });
    replies = await collectReplies(c.nc);
    // both nodes own partitions before anything is measured
    await until(async () => (await total([a], "claw_partitions_owned")) > 0 && (await total([b], "claw_partitions_owned")) > 0, "both nodes owning partitions");
    // each node counts the live nodes every 2 s (its share of concurrentTurns): both count two by now
    await new Promise((r) => setTimeout(r, 2_500));
  }, 120_000);
  afterAll(async () => {
    replies?.stop();
    await a?.[Symbol.asyncDispose]();
    await b?.[Symbol.asyncDispose]();
    await c?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    await model?.close();
  });

  it("refuses a tenant's turns from the bus past tokensPerDay with an error notice quota_exceeded, on either node", async () => {
    const first = await fromBus("globex", "g1", "one");
    const second = await fromBus("globex", "g2", "two");
    const r1 = await replies.waitFor(first, 60_000);
    expect(r1.text, JSON.stringify(r1)).toBe("fake: one");
    expect((await replies.waitFor(second, 60_000)).text).toBe("fake: two");
    await until(async () => (await call(a, "GET", "/v1/usage?tenant=globex")).json.usage[0]?.model_calls === 2, "both calls counted");
    // 140 tokens of 100: each node reads the count at most a second old
    await new Promise((r) => setTimeout(r, 1_100));
    const calls = model.requests.length;
    const refusedIds = [await fromBus("globex", "g1", "three"), await fromBus("globex", "g3", "four"), await fromBus("globex", "g4", "five")];
    for (const id of refusedIds) {
      const notice = await replies.waitFor(id, 30_000);
      expect(notice.kind).toBe("error");
      expect(notice.metadata).toMatchObject({ code: "quota_exceeded", retryable: false });
      expect(notice.text).toContain("tokens of today");
      expect(Number(notice.metadata.retryAfterS)).toBeGreaterThanOrEqual(1);
    }
    expect(model.requests.length).toBe(calls);
    expect(await total([a, b], 'claw_tenant_quota_refusals_total{tenant="globex",quota="tokensPerDay"}')).toBe(3);
    // the refused messages are kept as dead letters, to replay once the budget allows
    const dlq = (await call(a, "GET", "/v1/dlq?limit=100")).json.dead_letters as Array<{ code?: string; reason?: string }>;
    expect(dlq.filter((d) => JSON.stringify(d).includes("quota_exceeded")).length).toBe(3);
    // metered: five messages in, two turns, two replies and three notices out
    await until(async () => (await call(b, "GET", "/v1/usage?tenant=globex")).json.usage[0]?.messages_in === 5, "the five messages in the usage", 60_000);
    expect((await call(b, "GET", "/v1/usage?tenant=globex")).json.usage).toEqual([
      expect.objectContaining({ agent: "globex/support", model_calls: 2, turns: 2, messages_in: 5, messages_out: 5, skill_invocations: 0 }),
    ]);
  });

  it("meters turns, skill invocations and their seconds, and messages in and out per tenant and agent (GET /v1/usage, claw usage)", async () => {
    for (const [node, text] of [
      [a, '/tool time.sleep {"ms":300}'],
      [b, '/tool time.sleep {"ms":300}'],
      [a, "hello"],
    ] as const) {
      const r = await call(node, "POST", invokePath("metered"), { text, session: "m" });
      expect(r.status, r.text).toBe(200);
    }
    const row = async () => (await call(a, "GET", "/v1/usage?tenant=metered")).json.usage[0];
    await until(async () => (await row())?.turns === 3 && (await row())?.skill_invocations === 2, "three turns and two skill runs in the usage", 90_000);
    const r = await row();
    expect(r).toMatchObject({ tenant: "metered", agent: "metered/support", turns: 3, skill_invocations: 2, messages_in: 3, messages_out: 3 });
    expect(r.skill_seconds).toBeGreaterThanOrEqual(0.6);
    expect(r.skill_seconds).toBeLessThan(30);
    const cli = await runCli(["usage", "--tenant", "metered", "--json"], { NATS_URL: nats.url });
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout).usage).toEqual([expect.objectContaining({ turns: 3, skillInvocations: 2, messagesIn: 3, messagesOut: 3 })]);
    const table = await runCli(["usage", "--tenant", "metered"], { NATS_URL: nats.url });
    expect(table.stdout).toMatch(/turns\s+skills\s+skill s\s+in\s+out/);
  }, 180_000);

  it("refuses a new session past sessions with 429 quota_exceeded on either node; the sessions counted keep working", async () => {
    const s1 = await call(a, "POST", invokePath("few"), { text: "hi", session: "one" });
    expect(s1.status, s1.text).toBe(200);
    const s2 = await call(b, "POST", invokePath("few"), { text: "hi", session: "two" });
    expect(s2.status, s2.text).toBe(200);
    for (const node of [a, b]) {
      const s3 = await call(node, "POST", invokePath("few"), { text: "hi", session: `three-${node.httpPort}` });
      expect(s3.status, s3.text).toBe(429);
      expect(s3.json.error.code).toBe("quota_exceeded");
      expect(Number(s3.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      const chat = await call(node, "POST", "/v1/chat/completions", {
        model: "few/support",
        user: "u",
        messages: [{ role: "user", content: "hi" }],
      });
      expect(chat.status, chat.text).toBe(429);
      expect(chat.json.error).toMatchObject({ code: "quota_exceeded", type: "insufficient_quota" });
      // both existing sessions answer, on both nodes
      for (const session of ["one", "two"]) expect((await call(node, "POST", invokePath("few"), { text: "again", session })).status).toBe(200);
    }
    expect(await total([a, b], 'claw_tenant_quota_refusals_total{tenant="few",quota="sessions"}')).toBe(4);
  });

  it("keeps a tenant's turns past concurrentTurns waiting (each node its share) and answers them all", async () => {
    const started = performance.now();
    const done: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        call(i % 2 ? a : b, "POST", invokePath("slow"), { text: "/slow 1000", session: `c${i}` }).then((r) => {
          done.push(performance.now() - started);
          return r;
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    // two at a time at most (one per node): three rounds of a second, where all six at once take one
    expect(Math.max(...done)).toBeGreaterThanOrEqual(2_800);
    expect(await total([a, b], 'claw_tenant_quota_waits_total{tenant="slow",quota="concurrentTurns"}')).toBeGreaterThanOrEqual(3);
  });

  it("leaves another tenant's invoke latency unchanged while one tenant is throttled with a backlog", async () => {
    const measure = async (label: string) => {
      const ms: number[] = [];
      for (let i = 0; i < 15; i++) {
        const t = performance.now();
        const r = await call(i % 2 ? a : b, "POST", invokePath("beta"), { text: `${label} ${i}`, session: `lat-${i % 5}` });
        expect(r.status, r.text).toBe(200);
        ms.push(performance.now() - t);
      }
      return median(ms);
    };
    await measure("warm");
    const baseline = await measure("baseline");
    const waitsBefore = await total([a, b], 'claw_tenant_quota_waits_total{tenant="slow",quota="concurrentTurns"}');
    let answered = 0;
    // 20 turns of 1.5 s, two at a time (one per node): 15 s of backlog
    const backlog = Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call(i % 2 ? a : b, "POST", invokePath("slow"), { text: "/slow 1500", session: `backlog-${i}`, timeout_ms: 60_000 }).then((r) => {
          answered++;
          return r.status;
        }),
      ),
    );
    // the backlog is there: slow's turns wait for their turn
    await until(
      async () => (await total([a, b], 'claw_tenant_quota_waits_total{tenant="slow",quota="concurrentTurns"}')) >= waitsBefore + 2,
      "slow's turns waiting",
    );
    const loaded = await measure("loaded");
    // still throttled while beta was measured: most of the backlog still waits
    expect(answered, `${answered} of slow's 20 answered`).toBeLessThanOrEqual(12);
    expect(loaded, `baseline ${baseline.toFixed(1)} ms, loaded ${loaded.toFixed(1)} ms`).toBeLessThanOrEqual(2 * baseline + 50);
    expect(await backlog).toEqual(Array(20).fill(200));
  });

  it("keeps messages from the bus past messagesPerMinute waiting, not dropped, and answers each", async () => {
    const t0 = performance.now();
    const ids: string[] = [];
    // 12 a minute: the bucket's 12, then one every 5 s
    for (let i = 0; i < 14; i++) ids.push(await fromBus("chatty", `m${i}`, `hello ${i}`));
    const answers: Array<Envelope & { at: number }> = [];
    for (const id of ids) answers.push(await replies.waitFor(id, 60_000));
    expect(answers.map((r) => r.kind)).toEqual(Array(14).fill("reply"));
    const times = answers.map((r) => r.at - t0).sort((x, y) => x - y);
    // the last waited for tokens that come in every 5 s
    expect(times[13]!).toBeGreaterThanOrEqual(4_000);
    expect(await total([a, b], 'claw_tenant_quota_waits_total{tenant="chatty",quota="messagesPerMinute"}')).toBeGreaterThanOrEqual(1);
    expect(await total([a, b], 'claw_tenant_quota_refusals_total{tenant="chatty",quota="messagesPerMinute"}')).toBe(0);
  });
});
