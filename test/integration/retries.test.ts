import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { H } from "../../src/bus/index.js";
import { runCli } from "../support/claw-cli.js";
import { startClaw } from "../support/claw-node.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { client, natsServer } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody } from "../support/replies.js";
import { until } from "../support/until.js";

const cli = (args: string[], env: Record<string, string>) => runCli(args, env);

describe("retries, dead letters and replay", () => {
  it("retries a handler that fails 3 times with exponential backoff, then answers once", async () => {
    await using nats = await natsServer();
    await using claw = await startClaw({ env: { NATS_URL: nats.url } });
    await using c = await client(nats.url);
    const out = await collectStreamReplies(c.js, c.jsm);
    const t0 = Date.now();
    await c.js.publish("claw.in.t.a.flaky", jsonBody({ id: "fl-1", text: "/flaky 3", sender: { id: "u" } }));
    const reply = await out.waitFor("fl-1", 15_000);
    const elapsed = Date.now() - t0;
    expect(reply.text).toBe("recovered after 3 failures (attempt 4)");
    const lines = await claw.waitForLogs((l) => l.msg === "turn.retrying", 3);
    // every line about the message carries its id, trace, partition and actor
    for (const l of lines) {
      expect(l).toMatchObject({ msg_id: "fl-1", actor: "session/echo.t=3Aa=3Aflaky" });
      expect(l.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(l.partition).toEqual(expect.any(Number));
    }
    expect(new Set(lines.map((l) => l.trace_id)).size).toBe(1);
    const retries = lines.map((l) => [l.attempt, l.delayMs as number]);
    expect(retries.map(([a]) => a)).toEqual([1, 2, 3]);
    // 1 s, 2 s, 4 s with jitter in [½, 1]
    const [d1, d2, d3] = retries.map(([, d]) => d as number);
    expect(d1).toBeGreaterThanOrEqual(500);
    expect(d1).toBeLessThanOrEqual(1000);
    expect(d2).toBeGreaterThanOrEqual(1000);
    expect(d2).toBeLessThanOrEqual(2000);
    expect(d3).toBeGreaterThanOrEqual(2000);
    expect(d3).toBeLessThanOrEqual(4000);
    expect(elapsed).toBeGreaterThanOrEqual(d1! + d2! + d3!);
    await new Promise((r) => setTimeout(r, 300));
    expect(out.replies.filter((r) => r.replyTo === "fl-1")).toHaveLength(1);
    out.stop();
  });

  it("dead-letters a poison message after max deliveries, and the session goes on in order", async () => {
    await using nats = await natsServer();
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_MAX_DELIVER: "3", CLAW_RETRY_BASE_MS: "50" } });
    void claw;
    await using c = await client(nats.url);
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.t.a.poison", jsonBody({ id: "p-1", text: "/flaky 99", sender: { id: "u" } }));
    await c.js.publish("claw.in.t.a.poison", jsonBody({ id: "p-2", text: "after the poison", sender: { id: "u" } }));
    await out.waitFor("p-2");
    expect(out.replies.map((r) => [r.replyTo, r.kind])).toEqual([
      ["p-1", "error"],
      ["p-2", "reply"],
    ]);
    const [dl] = await waitForDeadLetters(c.jsm, (all) => all.length === 1);
    expect(dl).toMatchObject({ stage: "session", code: "scripted_flaky", deliveries: 3, msgId: "p-1" });
    expect(dl!.reason).toContain("scripted transient failure 3 of 99");
    expect(dl!.firstError).toContain("failure 1 of 99");
    expect(dl!.originalSubject).toMatch(/^claw\.in\.\d+\.t\.a\.poison$/);
    expect(dl!.headers[H.dlq.node]).toMatch(/.+/);
    expect(Date.parse(dl!.time)).toBeGreaterThan(Date.now() - 60_000);
    expect(JSON.parse(new TextDecoder().decode(dl!.data))).toMatchObject({ id: "p-1", text: "/flaky 99" });
    out.stop();
  });

  it("replays a dead letter to its original subject once the cause is fixed, keeping its id", async () => {
    await using nats = await natsServer();
    const env = { NATS_URL: nats.url };
    await using c = await client(nats.url);
    const first = await startClaw({ env });
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.t.a.ghost", jsonBody({ id: "g-1", text: "for ghost", sender: { id: "u" }, metadata: { agent: "ghost" } }));
    const [dl] = await waitForDeadLetters(c.jsm, (all) => all.length === 1);
    expect(dl).toMatchObject({ stage: "ingress", code: "no_agent", field: "metadata.agent" });
    // the sender was told, in answer to its message
    expect(await out.waitFor("g-1")).toMatchObject({ kind: "error", text: expect.stringContaining("no agent named ghost") });
    await first.kill("SIGTERM");

    // fix the cause: a node that knows agent "ghost"
    const config = join(tmpdir(), `claw-agents-${process.pid}.json`);
    await writeFile(config, JSON.stringify({ agents: [{ id: "echo" }, { id: "ghost", bindings: [{ channel: "t", account: "a", chat: "ghost" }] }] }));
    await using second = await startClaw({ env: { ...env, CLAW_CONFIG: config } });
    void second;
    const ls = await cli(["dlq", "ls"], env);
    expect(ls.stdout).toMatch(new RegExp(`^\\s+${dl!.seq}\\s.*ingress\\s+no_agent\\s+claw\\.in\\.\\d+\\.t\\.a\\.ghost`, "m"));
    const shown = await cli(["dlq", "show", String(dl!.seq)], env);
    expect(JSON.parse(shown.stdout)).toMatchObject({ code: "no_agent", data: { id: "g-1", text: "for ghost" } });
    const replay = await cli(["dlq", "replay", String(dl!.seq)], env);
    expect(replay.stderr).toBe("");
    expect(replay.stdout).toMatch(/^replayed \d+ → claw\.in\.\d+\.t\.a\.ghost/);
    await until(() => out.replies.some((r) => r.replyTo === "g-1" && r.kind === "reply"), "the replayed message's reply", 5_000);
    expect(out.replies.filter((r) => r.replyTo === "g-1").map((r) => r.kind)).toEqual(["error", "reply"]);
    expect(out.replies.find((r) => r.replyTo === "g-1" && r.kind === "reply")).toMatchObject({ text: "for ghost", sender: { id: "ghost" } });
    await waitForDeadLetters(c.jsm, (all) => all.length === 0);
    expect((await cli(["dlq", "ls"], env)).stdout).toBe("no dead letters\n");
    out.stop();
  });

  it("purges dead letters by stage", async () => {
    await using nats = await natsServer();
    await using claw = await startClaw({ env: { NATS_URL: nats.url } });
    void claw;
    await using c = await client(nats.url);
    c.nc.publish("claw.in.t.a.junk", new TextEncoder().encode("{junk"));
    await c.js.publish("claw.in.t.a.junk", jsonBody({ text: "/fail", sender: { id: "u" } }));
    await waitForDeadLetters(c.jsm, (all) => all.length === 2);
    const purged = await cli(["dlq", "purge", "--stage", "ingress"], { NATS_URL: nats.url });
    expect(purged.stdout).toBe("purged 1 dead letter(s) of stage ingress\n");
    const left = await waitForDeadLetters(c.jsm, (all) => all.length === 1);
    expect(left[0]!.stage).toBe("session");
  });

  it("passivates idle sessions and rehydrates them from KV", async () => {
    await using nats = await natsServer();
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_IDLE_MS: "300", CLAW_LOG_LEVEL: "debug" } });
    await using c = await client(nats.url);
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.t.a.idle", jsonBody({ id: "i-1", text: "before", sender: { id: "u" } }));
    await out.waitFor("i-1");
    await claw.waitForLogs((l) => l.msg === "session.passivated");
    await c.js.publish("claw.in.t.a.idle", jsonBody({ id: "i-2", text: "/history", sender: { id: "u" } }));
    expect((await out.waitFor("i-2")).text).toBe("1 earlier turns\n1. before");
    const spawned = await claw.waitForLogs((l) => l.msg === "session.spawned", 2);
    expect(spawned.map((l) => l.restored)).toEqual([false, true]);
    out.stop();
  });
});
