/**
 * Fault injection, around the server: the network between node and server
 * cut, the JetStream store full, and the node running the router (on a
 * server without Claw's partition mapping) SIGKILLed. Each under steady
 * load: nothing acked is lost or answered twice, chats stay in order, and
 * readiness says 503 while the node cannot serve and 200 after.
 */
import { describe, expect, it } from "vitest";
import { startClaw } from "../support/claw-node.js";
import { metric } from "../support/metrics.js";
import { expectFastRefusal, expectHonestReadiness, expectNothingLost, patientClient, runUnderFault, untilNotReady } from "../support/fault-run.js";
import { natsServer } from "../support/nats-server.js";
import { jsonBody, readStream } from "../support/replies.js";
import { checkReplies, startSteadyLoad } from "../support/steady-load.js";
import { STREAMS } from "../../src/bus/index.js";
import { startTcpProxy } from "../support/tcp-proxy.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("NATS faults: around the server", () => {
  it("rides out a network cut between node and server for 10 s, and loses nothing", async () => {
    await using nats = await natsServer();
    await using proxy = await startTcpProxy(nats.port);
    // the node reaches NATS through the proxy; the load goes straight to the server and piles up meanwhile
    await using claw = await startClaw({ env: { NATS_URL: proxy.url } });
    await using c = await patientClient(nats.url);
    const run = await runUnderFault({
      name: "network-cut",
      js: c.js,
      jsm: c.jsm,
      httpPort: claw.httpPort,
      inject: async () => proxy.cut(),
      during: async () => {
        const t0 = Date.now();
        await untilNotReady(claw.httpPort);
        await expectFastRefusal(claw.httpPort, "unavailable");
        await sleep(Math.max(0, 10_000 - (Date.now() - t0)));
      },
      heal: async () => proxy.heal(),
    });
    expectNothingLost(run);
    expectHonestReadiness(run, /^nats: /);
  }, 120_000);

  it("refuses messages with a clear error and a metric while the JetStream store is full, and dead-letters nothing when space returns 35 s later", async () => {
    await using nats = await natsServer({ maxFileStore: "24MB" });
    // one attempt per message: a turn whose reply cannot be stored must be held, not counted as failed
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_MAX_DELIVER: "1" } });
    await using c = await patientClient(nats.url);
    await c.jsm.streams.add({ name: "FILLER", subjects: ["filler.>"] });
    const run = await runUnderFault({
      name: "store-full",
      js: c.js,
      jsm: c.jsm,
      httpPort: claw.httpPort,
      inject: async () => {
        // a turn in progress when the store fills: its reply and snapshot cannot be written for 35 s
        await c.js.publish("claw.in.t.b.slow", jsonBody({ id: "slow-1", text: "/slow 1500", sender: { id: "u" } }), { msgID: "slow-1" });
        await sleep(300);
        const chunk = new Uint8Array(512 * 1024);
        // fill until JetStream refuses: 503 "insufficient resources"
        for (let i = 0; i < 200; i++) {
          const refused = await c.js.publish("filler.x", chunk).then(
            () => false,
            () => true,
          );
          if (refused) return;
        }
        throw new Error("the store never filled up");
      },
      during: async () => {
        const t0 = Date.now();
        const reasons = await untilNotReady(claw.httpPort);
        expect(reasons).toContain("jetstream: storage full");
        await expectFastRefusal(claw.httpPort, "storage_full");
        expect(await metric(claw.httpPort, 'claw_publish_refused_total{stage="gateway",reason="storage_full"}')).toBeGreaterThanOrEqual(1);
        expect(await metric(claw.httpPort, 'claw_bus_unavailable{reason="storage_full"}')).toBe(1);
        // longer than a publish's own 30 s of retries
        await sleep(Math.max(0, 35_000 - (Date.now() - t0)));
        expect(await metric(claw.httpPort, 'claw_turns_held_total{reason="storage_full"}')).toBeGreaterThanOrEqual(1);
      },
      // space returns (an operator frees it)
      heal: () => c.jsm.streams.delete("FILLER").then(() => undefined),
    });
    expectNothingLost(run);
    expectHonestReadiness(run, /^jetstream: storage full$/);
    expect(run.load.retries, "the load's own publishes were refused while the store was full").toBeGreaterThan(0);
    const slow = await readStream(c.jsm, STREAMS.out, "claw.out.t.b.slow", 1);
    expect(slow.map((r) => [r.replyTo, r.kind, r.text])).toEqual([["slow-1", "reply", "slept 1500 ms"]]);
    expect((await c.jsm.streams.info(STREAMS.dlq)).state.messages, "dead letters").toBe(0);
    expect(await metric(claw.httpPort, "claw_ready")).toBe(1);
  }, 150_000);

  it("keeps per-chat order and answers within seconds when the node running the router is SIGKILLed", async () => {
    // a server without Claw's partition mapping: the leader routes CLAW_IN_RAW into the partitions
    await using nats = await natsServer({ partitionMapping: false });
    const first = await startClaw({ env: { NATS_URL: nats.url } });
    await using c = await patientClient(nats.url);
    expect(first.logs.some((l) => l.partitioning === "router")).toBe(true);
    const load = startSteadyLoad(c.js, { rate: 100, chats: 20, total: 400, prefix: "router" });
    await sleep(2_000);
    await first.kill("SIGKILL");
    const killedAt = Date.now();
    await using second = await startClaw({ env: { NATS_URL: nats.url } });
    const startedAfterMs = Date.now() - killedAt;
    await sleep(2_000);
    await load.stop();
    const check = await checkReplies(c.jsm, load);
    console.log(
      `fault router-kill: ${JSON.stringify({ accepted: load.accepted.length, answered: check.answered, startedAfterMs, worstReplyMs: check.worstMs, outOfOrder: check.outOfOrder.length })}`,
    );
    expect(load.accepted.length).toBe(400);
    expect(check.missing).toEqual([]);
    expect(check.duplicated).toEqual([]);
    expect(check.failed).toEqual([]);
    expect(check.outOfOrder, "a message the dead router held must come before the later ones of its chat").toEqual([]);
    // the dead router's messages come back when the new one takes its consumer over, not after the 30 s ack wait
    expect(check.worstMs).toBeLessThan(startedAfterMs + 10_000);
    expect((await fetch(`http://127.0.0.1:${second.httpPort}/readyz`)).status).toBe(200);
  }, 120_000);
});
