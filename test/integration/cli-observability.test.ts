import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/claw-cli.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { client, natsServer, type NatsServerProcess, type TestClient } from "../support/nats-server.js";
import { jsonBody } from "../support/replies.js";

/** One server and one node for the file: the tests use distinct chats. */
let nats: NatsServerProcess;
let node: ClawProcess;
let c: TestClient;
let env: Record<string, string>;

beforeAll(async () => {
  nats = await natsServer();
  node = await startClaw({ env: { NATS_URL: nats.url, CLAW_NODE_ID: "obs" } });
  c = await client(nats.url);
  env = { NATS_URL: nats.url };
});

afterAll(async () => {
  await c?.[Symbol.asyncDispose]();
  await node?.[Symbol.asyncDispose]();
  await nats?.[Symbol.asyncDispose]();
});

type Status = {
  leader: string;
  epoch: number;
  members: Array<{ node: string; pid: number; version: string; partitions: number; http?: string; ready?: boolean }>;
  partitions: Array<{ partition: number; owner: string; pending: number; inFlight: number }>;
  dlq: { total: number; byStage: Record<string, number> };
};

/** `claw status --json` once the heartbeat carries the partitions and the HTTP address. */
async function settledStatus(): Promise<Status> {
  for (let i = 0; ; i++) {
    const r = await runCli(["status", "--json"], env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Status;
    if ((s.members[0]?.partitions === 64 && s.members[0].http && s.members[0].ready) || i === 20) return s;
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe("claw status, top and inspect", () => {
  it("status and top say so when no node has ever started against the NATS server", async () => {
    await using empty = await natsServer();
    for (const args of [["status"], ["top", "--once"]]) {
      const r = await runCli(args, { NATS_URL: empty.url });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^claw: no Claw cluster on this NATS: KV bucket claw_cluster does not exist/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it("status shows the node, its HTTP address, readiness, the leader, the partitions and the dead letters per stage", async () => {
    await c.js.publish("claw.in.obs.a.broken", new TextEncoder().encode("{not json"));
    await waitForDeadLetters(c.jsm, (all) => all.length === 1);
    const s = await settledStatus();
    expect(s.leader).toBe("obs");
    expect(s.epoch).toBeGreaterThanOrEqual(1);
    expect(s.members).toEqual([
      expect.objectContaining({ node: "obs", pid: node.child.pid, partitions: 64, http: `http://127.0.0.1:${node.httpPort}`, ready: true }),
    ]);
    expect(s.partitions).toHaveLength(64);
    expect(s.partitions.every((p) => p.owner === "obs")).toBe(true);
    expect(s.dlq).toEqual({ total: 1, byStage: { ingress: 1 } });

    const table = await runCli(["status"], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^leader: obs\s+assignment epoch: \d+\s+members: 1\s+dead letters: 1 \(ingress 1\)$/m);
    expect(table.stdout).toMatch(
      new RegExp(`^obs \\*\\s+\\S+\\s+${node.child.pid}\\s+\\d+s\\s+64\\s+\\d+\\s+0\\s+0\\s+http://127\\.0\\.0\\.1:${node.httpPort}\\s+yes$`, "m"),
    );
    expect(table.stdout).toContain("no backlog in any partition");

    // `claw cluster` still works and shares the view
    const cluster = await runCli(["cluster"], env);
    expect(cluster.stdout).toMatch(/^obs \*\s+64\s+\d+\s+0\s+0\s+\d+s$/m);
  });

  it("top --once shows messages per second while messages flow", async () => {
    await settledStatus();
    let sending = true;
    let sent = 0;
    const load = (async () => {
      while (sending) {
        await c.js.publish(`claw.in.obs.a.top${sent % 5}`, jsonBody({ text: `m${sent}`, sender: { id: "u" } }));
        sent++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      const r = await runCli(["top", "--once", "--interval", "1500"], env, 15_000);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^NODE\s+IN\/S\s+OUT\/S\s+P99 E2E\s+SESSIONS\s+PARTITIONS\s+LAG$/m);
      const row = /^obs \*\s+([\d.]+)\s+([\d.]+)\s+(\S+)\s+(\d+)\s+64\s+\d+$/m.exec(r.stdout);
      expect(row, r.stdout).not.toBeNull();
      expect(Number(row![1])).toBeGreaterThan(0);
      expect(Number(row![2])).toBeGreaterThan(0);
      expect(row![3]).toMatch(/^\d+(\.\d+)?(µs|ms|s)$/);
      expect(Number(row![4])).toBeGreaterThan(0);

      const json = await runCli(["top", "--json", "--interval", "1000"], env, 15_000);
      const frame = JSON.parse(json.stdout) as {
        leader: string;
        nodes: Array<{ node: string; rates: { inPerSec: number; outPerSec: number; partitionsOwned: number } }>;
      };
      expect(frame.leader).toBe("obs");
      expect(frame.nodes[0]!.rates.inPerSec).toBeGreaterThan(0);
      expect(frame.nodes[0]!.rates.partitionsOwned).toBe(64);
    } finally {
      sending = false;
      await load;
    }
    expect(sent).toBeGreaterThan(10);
  }, 40_000);

  it("inspect shows a session's history and the node running it, and says when there is no such session", async () => {
    for (const text of ["first question", "second question"]) {
      const r = await runCli(["send", "terminal", "inspectme", text], env);
      expect(r.stdout).toBe(`${text}\n`);
    }
    const json = await runCli(["inspect", "echo", "terminal:cli:inspectme", "--json"], env);
    expect(json.stderr).toBe("");
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as {
      state: string;
      turns: number;
      lastTurnId: string;
      history: Array<{ role: string; text: string; ts: number }>;
      live: Array<{ node: string }>;
    };
    expect(report.state).toBe("idle");
    expect(report.turns).toBe(2);
    expect(report.lastTurnId).toBeTruthy();
    expect(report.history.map((t) => [t.role, t.text])).toEqual([
      ["user", "first question"],
      ["assistant", "first question"],
      ["user", "second question"],
      ["assistant", "second question"],
    ]);
    expect(report.history.every((t) => t.ts > 0)).toBe(true);
    expect(report.live).toEqual([expect.objectContaining({ node: "obs", state: "idle" })]);

    const human = await runCli(["inspect", "echo", "terminal:cli:inspectme"], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^state\s+idle\s+turns 2\s+last turn \S+$/m);
    expect(human.stdout).toMatch(/^live\s+on obs since /m);
    expect(human.stdout).toMatch(/^ {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\s+user\s+first question$/m);
    expect(human.stdout).toMatch(/^ {2}\S+ \S+\s+assistant\s+second question$/m);

    const unknown = await runCli(["inspect", "echo", "terminal:cli:nobody"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe("");
    expect(unknown.stderr).toMatch(/^claw: no session "terminal:cli:nobody" of agent "echo"/);
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
  });
});
