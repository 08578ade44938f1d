import { describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { BUCKETS, decode, PASSIVATE_SUBJECT, sessionKey } from "../../src/bus/index.js";
import { watchActor } from "../support/actor-state.js";
import { startClaw } from "../support/claw-node.js";
import { metric } from "../support/metrics.js";
import { natsServer } from "../support/nats-server.js";
import { collectReplies, jsonBody } from "../support/replies.js";

describe("durability across node crashes", () => {
  it("keeps session history when the node is killed and restarted", async () => {
    await using nats = await natsServer();
    const env = { NATS_URL: nats.url };
    const nc = await connect({ servers: nats.url });
    const out = await collectReplies(nc);
    const first = await startClaw({ env });
    for (const id of ["a", "b"]) {
      nc.publish("claw.in.d.acct.hist", jsonBody({ id, text: `turn ${id}`, sender: { id: "u" } }));
      await out.waitFor(id);
    }
    await first.kill("SIGKILL");
    await using second = await startClaw({ env });
    void second;
    nc.publish("claw.in.d.acct.hist", jsonBody({ id: "c", text: "/history", sender: { id: "u" } }));
    expect((await out.waitFor("c")).text).toBe("2 earlier turns\n1. turn a\n2. turn b");
    out.stop();
    await nc.close();
  });

  it("answers a message exactly once when the node dies in the middle of its turn", async () => {
    await using nats = await natsServer();
    const env = { NATS_URL: nats.url, CLAW_ACK_WAIT_MS: "1500" };
    const nc = await connect({ servers: nats.url });
    const out = await collectReplies(nc);
    await using first = await startClaw({ env }); // disposed too when the test fails before it is killed
    const session = await watchActor(nc, "session", sessionKey("echo", "d:acct:crash"));
    nc.publish("claw.in.d.acct.crash", jsonBody({ id: "mid-1", text: "/slow 800", sender: { id: "u" } }));
    // in the middle of its turn: the session is thinking (the model sleeps 800 ms) when the node dies
    await session.until("thinking");
    await first.kill("SIGKILL");
    session.stop();
    expect(out.replies).toHaveLength(0);
    await using second = await startClaw({ env });
    void second;
    expect((await out.waitFor("mid-1", 8_000)).text).toBe("slept 800 ms");
    await new Promise((r) => setTimeout(r, 500));
    expect(out.replies.filter((r) => r.replyTo === "mid-1")).toHaveLength(1);
    out.stop();
    await nc.close();
  });

  it("keeps a long history in the transcript stream, not in every snapshot, and rebuilds it after passivation", async () => {
    for (const transcripts of ["on", "off"]) {
      await using nats = await natsServer();
      await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_TRANSCRIPTS: transcripts } });
      const nc = await connect({ servers: nats.url });
      const out = await collectReplies(nc);
      const text = (i: number) => `turn ${i} ${"x".repeat(300)}`;
      for (let i = 1; i <= 12; i++) {
        nc.publish("claw.in.d.acct.long", jsonBody({ id: `l${i}`, text: text(i), sender: { id: "u" } }));
        await out.waitFor(`l${i}`);
      }
      const kv = await new Kvm(jetstream(nc)).open(BUCKETS.sessions);
      const entry = await kv.get(sessionKey("echo", "d:acct:long"));
      const stored = decode<{ history?: string; snapshot: { context: { history: unknown[]; historyRefs?: number[] } } }>(entry!.value);
      if (transcripts === "on") {
        // ten turns (the default limit of 20 entries) named by their transcript sequences; the snapshot stays small
        expect(stored.history).toBe("transcripts");
        expect(stored.snapshot.context.history).toEqual([]);
        expect(stored.snapshot.context.historyRefs).toHaveLength(10);
        expect(entry!.value.length).toBeLessThan(1_500);
      } else {
        expect(stored.history).toBeUndefined();
        expect(stored.snapshot.context.history).toHaveLength(20);
        expect(entry!.value.length).toBeGreaterThan(6_000);
      }
      // passivated, the session comes back with the same history either way
      // (a session still finishing its last turn is not passivated: ask until none is live)
      let passivated = 0;
      let active = -1;
      for (let i = 0; i < 50 && active !== 0; i++) {
        const r = (await nc.request(PASSIVATE_SUBJECT, JSON.stringify({ olderThanMs: 0 }), { timeout: 5_000 })).json<{ passivated: number; active: number }>();
        passivated += r.passivated;
        active = r.active;
        if (active !== 0) await new Promise((r) => setTimeout(r, 50));
      }
      expect({ passivated, active }, "the session was passivated").toEqual({ passivated: 1, active: 0 });
      expect(await metric(claw.httpPort, "claw_sessions_passivated_total"), "the node counted it").toBe(1);
      nc.publish("claw.in.d.acct.long", jsonBody({ id: "h", text: "/history", sender: { id: "u" } }));
      const lines = (await out.waitFor("h")).text!.split("\n");
      expect(lines[0], `transcripts ${transcripts}`).toBe("10 earlier turns");
      expect(lines.slice(1)).toEqual(Array.from({ length: 10 }, (_, k) => `${k + 1}. ${text(k + 3)}`));
      out.stop();
      await nc.close();
    }
  }, 60_000);
});
