/**
 * Fault injection, the server side: the embedded nats-server killed, a
 * server stalled (SIGSTOP), a configured server restarted. Each under steady
 * load: nothing acked is lost or answered twice, chats stay in order, and
 * readiness says 503 while the node cannot serve and 200 after.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort } from "../../src/bus/index.js";
import { startClaw } from "../support/claw-node.js";
import { expectFastRefusal, expectHonestReadiness, expectNothingLost, patientClient, runUnderFault, untilNotReady } from "../support/fault-run.js";
import { natsServer } from "../support/nats-server.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("NATS faults: the server", () => {
  it("restarts the embedded nats-server after kill -9 on the same store, and loses nothing", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "claw-embedded-"));
    const port = await freePort();
    const claw = await startClaw({ env: { CLAW_EMBEDDED_NATS_PORT: String(port), CLAW_DATA_DIR: dataDir } });
    let serverPid = Number((await claw.waitForLogs((l) => l.msg === "embedded nats-server started"))[0]!.pid);
    try {
      await using c = await patientClient(`nats://127.0.0.1:${port}`);
      const run = await runUnderFault({
        name: "embedded-kill",
        js: c.js,
        jsm: c.jsm,
        httpPort: claw.httpPort,
        inject: async () => void process.kill(serverPid, "SIGKILL"),
        heal: async () => {
          const [line] = await claw.waitForLogs((l) => l.msg === "embedded nats-server restarted on the same port and store", 1, 15_000);
          serverPid = Number(line!.pid);
        },
      });
      expectNothingLost(run);
      expectHonestReadiness(run, /^nats: /);
      expect(run.healedAt - run.faultAt, "restarted within a second").toBeLessThan(2_000);
    } finally {
      // SIGTERM: the node stops its embedded server (a SIGKILL would leave it running)
      expect(await claw.kill("SIGTERM")).toBe(0);
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it("exits non-zero, naming nats-server, when the embedded server cannot be restarted", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "claw-embedded-"));
    const port = await freePort();
    const claw = await startClaw({ env: { CLAW_EMBEDDED_NATS_PORT: String(port), CLAW_DATA_DIR: dataDir } });
    const serverPid = Number((await claw.waitForLogs((l) => l.msg === "embedded nats-server started"))[0]!.pid);
    const { createServer } = await import("node:net");
    const squatter = createServer();
    try {
      process.kill(serverPid, "SIGKILL");
      await sleep(50);
      // someone else takes the port: every restart fails, past the restart intensity the node gives up
      await new Promise<void>((r) => squatter.listen(port, "127.0.0.1", r));
      const code = await new Promise<number | null>((r) => (claw.child.exitCode !== null ? r(claw.child.exitCode) : claw.child.once("exit", r)));
      expect(code).toBe(1);
      expect(claw.output()).toMatch(/claw: the embedded nats-server failed too often \(nats-server exited early \(code 1\): .*address already in use/);
    } finally {
      squatter.close();
      await claw.kill("SIGKILL");
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("rides out a stalled server (SIGSTOP for 10 s): 503 fast while it lasts, everything answered after", async () => {
    await using nats = await natsServer();
    await using claw = await startClaw({ env: { NATS_URL: nats.url } });
    await using c = await patientClient(nats.url);
    // accepted before the stall, answered after it: the waiting request is served, not dropped
    let slow: Promise<Response> | undefined;
    const run = await runUnderFault({
      name: "sigstop",
      js: c.js,
      jsm: c.jsm,
      httpPort: claw.httpPort,
      beforeMs: 2_000,
      inject: async () => {
        slow = fetch(`http://127.0.0.1:${claw.httpPort}/v1/agents/echo/invoke`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ text: "/slow 1000", session: "stall" }),
        });
        await sleep(300);
        process.kill(nats.pid!, "SIGSTOP");
      },
      during: async () => {
        await untilNotReady(claw.httpPort);
        await expectFastRefusal(claw.httpPort, "unavailable");
        await sleep(Math.max(0, 10_000 - 6_000));
      },
      heal: async () => void process.kill(nats.pid!, "SIGCONT"),
    });
    expectNothingLost(run);
    expectHonestReadiness(run, /^nats: /);
    const res = await slow!;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { reply: { text: string } }).reply.text).toBe("slept 1000 ms");
  }, 120_000);

  it("rides out a restart of a configured server (NATS_URL) and loses nothing", async () => {
    await using nats = await natsServer();
    await using claw = await startClaw({ env: { NATS_URL: nats.url } });
    await using c = await patientClient(nats.url);
    const run = await runUnderFault({
      name: "server-restart",
      js: c.js,
      jsm: c.jsm,
      httpPort: claw.httpPort,
      inject: () => nats.kill("SIGKILL"),
      during: async () => {
        await untilNotReady(claw.httpPort);
        await expectFastRefusal(claw.httpPort, "unavailable");
        await sleep(3_000);
      },
      heal: () => nats.restart(),
    });
    expectNothingLost(run);
    expectHonestReadiness(run, /^nats: /);
  }, 120_000);
});
