/**
 * A stop is bounded: a node told to stop (SIGTERM) lets in-flight tools run
 * for `CLAW_DRAIN_MS`, then gives an idempotent invocation back to the work
 * queue (another node runs it) and answers any other `cancelled` — one
 * reply either way — and it exits within `CLAW_DRAIN_MS` plus a few seconds
 * even when NATS goes away during the stop.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { STREAMS } from "../../src/bus/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { client, natsServer } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody } from "../support/replies.js";

const DRAIN_MS = 1_500;
/** what a stop may take beyond the drain: handing back, answering, closing, and a loaded machine's slowness */
const STOP_MARGIN_MS = 6_000;

async function agentsFile(): Promise<string> {
  const path = join(tmpdir(), `claw-drain-${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`);
  await writeFile(path, JSON.stringify({ agents: [{ id: "helper", skills: ["time.sleep", "bash"], toolTimeoutMs: 60_000 }] }));
  return path;
}

/** SIGTERM, and how long until the process has exited. */
async function timedStop(node: ClawProcess, then?: () => Promise<void>): Promise<{ code: number | null; ms: number }> {
  const t0 = Date.now();
  const exited = node.kill("SIGTERM");
  await then?.();
  const code = await exited;
  return { code, ms: Date.now() - t0 };
}

describe("stopping a node with work in flight", () => {
  it("drains for CLAW_DRAIN_MS, then hands an idempotent tool back and answers another `cancelled`, one reply each", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const env = { NATS_URL: nats.url, CLAW_CONFIG: await agentsFile(), CLAW_DRAIN_MS: String(DRAIN_MS), CLAW_ACK_WAIT_MS: "5000" };
    await using a = await startClaw({ env: { ...env, CLAW_NODE_ID: "a", CLAW_LOG_LEVEL: "debug" } });
    const out = await collectStreamReplies(c.js, c.jsm);
    // time.sleep is idempotent, bash is not; both far longer than the drain
    await c.js.publish("claw.in.t.a.sleepy", jsonBody({ id: "d-sleep", text: '/tool time.sleep {"ms":15000}', sender: { id: "u" } }));
    await c.js.publish("claw.in.t.a.bashy", jsonBody({ id: "d-bash", text: '/tool bash {"command":"sleep 25; echo finished"}', sender: { id: "u" } }));
    await a.waitForLogs((l) => l.msg === "skill.received", 2, 20_000);
    // the node that takes over the partitions and the handed-back invocation
    await using b = await startClaw({ env: { ...env, CLAW_NODE_ID: "b" } });
    void b;

    const stop = await timedStop(a);
    console.log(`drain: stopped with two tools in flight in ${stop.ms} ms (CLAW_DRAIN_MS ${DRAIN_MS})`);
    expect(stop.code).toBe(0);
    expect(stop.ms, "the stop waits CLAW_DRAIN_MS, not the tools").toBeLessThan(DRAIN_MS + STOP_MARGIN_MS);
    expect(
      a.logs
        .filter((l) => l.msg === "skill.stopped")
        .map((l) => [l.skill, l.outcome])
        .sort(),
    ).toEqual([
      ["bash", "cancelled"],
      ["time.sleep", "handed_back"],
    ]);

    expect((await out.waitFor("d-bash", 20_000)).text).toMatch(/^bash failed: error \(cancelled\)/);
    // run again from the start on b
    expect((await out.waitFor("d-sleep", 40_000)).text).toBe('time.sleep: {"slept":15000}');
    await new Promise((r) => setTimeout(r, 2_000)); // a second reply would be stored by now
    expect(out.replies.filter((r) => r.replyTo === "d-bash")).toHaveLength(1);
    expect(out.replies.filter((r) => r.replyTo === "d-sleep")).toHaveLength(1);
    expect((await c.jsm.streams.info(STREAMS.skills)).state.messages, "every invocation taken off the work queue").toBe(0);
    out.stop();
  }, 120_000);

  it("finishes the stop within CLAW_DRAIN_MS plus a few seconds when its NATS server goes away during it", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using a = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: await agentsFile(), CLAW_DRAIN_MS: String(DRAIN_MS), CLAW_LOG_LEVEL: "debug" } });
    await c.js.publish("claw.in.t.a.held", jsonBody({ id: "h-1", text: '/tool time.sleep {"ms":30000}', sender: { id: "u" } }));
    await a.waitForLogs((l) => l.msg === "skill.received", 1, 20_000);
    await c[Symbol.asyncDispose]();
    const stop = await timedStop(a, async () => {
      await new Promise((r) => setTimeout(r, 300));
      await nats.kill("SIGKILL");
    });
    console.log(`drain: stopped with NATS killed 300 ms into the stop in ${stop.ms} ms (CLAW_DRAIN_MS ${DRAIN_MS})`);
    expect(stop.ms, "bounded whatever NATS does").toBeLessThan(DRAIN_MS + STOP_MARGIN_MS);
    expect(stop.code).toBe(0);
  }, 60_000);
});
