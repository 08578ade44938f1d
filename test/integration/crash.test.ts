import { describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { createSessionStore } from "../../src/actors/index.js";
import { BUCKETS, sessionKey, STREAMS } from "../../src/bus/index.js";
import type { Turn } from "../../src/llm/index.js";
import { runClawExpectingFailure, startClaw } from "../support/claw-node.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { client, natsServer, type TestClient } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody } from "../support/replies.js";

/** A session's history as a node would load it (from KV, and from the transcripts it names). */
async function historyOf(c: TestClient, chat: string): Promise<Turn[]> {
  const kv = await new Kvm(c.js).open(BUCKETS.sessions);
  const stored = await createSessionStore(kv, { jsm: c.jsm }).load(sessionKey("echo", `t:a:${chat}`));
  return (stored.snapshot as { context?: { history: Turn[] } } | undefined)?.context?.history ?? [];
}

async function transcriptCount(c: TestClient): Promise<number> {
  return (await c.jsm.streams.info(STREAMS.transcripts)).state.messages;
}

describe("crashes", () => {
  it.each(["session.after-reply", "session.after-save"])("answers exactly once when the node dies at %s", async (failpoint) => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const first = await startClaw({ env: { NATS_URL: nats.url, CLAW_FAILPOINTS: failpoint } });
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.t.a.fp", jsonBody({ id: "fp-1", text: "remember me", sender: { id: "u" } }));
    const signal = first.child.signalCode ?? (await new Promise((r) => first.child.once("exit", (_c, sig) => r(sig))));
    expect(signal).toBe("SIGKILL");
    expect(first.output()).toContain(`failpoint ${failpoint} reached`);
    await using second = await startClaw({ env: { NATS_URL: nats.url } });
    void second;
    await out.waitFor("fp-1");
    await c.js.publish("claw.in.t.a.fp", jsonBody({ id: "fp-2", text: "/history", sender: { id: "u" } }));
    expect((await out.waitFor("fp-2")).text).toBe("1 earlier turns\n1. remember me");
    expect(out.replies.map((r) => r.replyTo)).toEqual(["fp-1", "fp-2"]);
    expect(await transcriptCount(c)).toBe(2);
    out.stop();
  });

  it("dead-letters a message that kills its node on every attempt", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const env = { NATS_URL: nats.url, CLAW_MAX_DELIVER: "2", CLAW_FAILPOINTS: "session.after-reply" };
    const deaths: string[] = [];
    const first = await startClaw({ env });
    await c.js.publish("claw.in.t.a.killer", jsonBody({ id: "k-1", text: "deadly", sender: { id: "u" } }));
    await new Promise((r) => (first.child.exitCode !== null || first.child.signalCode !== null ? r(null) : first.child.once("exit", r)));
    deaths.push(String(first.child.signalCode));
    // the next node is handed the message again, possibly before it has said it started: it dies all the same
    const second = await runClawExpectingFailure(env, 30_000);
    expect(second.output).toContain("failpoint session.after-reply reached");
    deaths.push(String(second.signal));
    expect(deaths).toEqual(["SIGKILL", "SIGKILL"]);
    await using survivor = await startClaw({ env });
    const [dl] = await waitForDeadLetters(c.jsm, (all) => all.length === 1);
    expect(dl).toMatchObject({ code: "max_deliveries", msgId: "k-1" });
    expect(dl!.reason).toContain("the node processing it died");
    // it was handed the message too and dead-lettered it instead of running it: alive a while later
    // (a SIGKILLed child has a null exitCode too: its signal says whether it died)
    await new Promise((r) => setTimeout(r, 1_500));
    expect({ exitCode: survivor.child.exitCode, signal: survivor.child.signalCode }).toEqual({ exitCode: null, signal: null });
    expect(survivor.output()).not.toContain("failpoint session.after-reply reached");
  });

  it("answers every accepted message exactly once, in order, when the node is SIGKILLed mid-load", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const env = { NATS_URL: nats.url };
    const first = await startClaw({ env });
    const out = await collectStreamReplies(c.js, c.jsm);
    const sessions = 200;
    const perSession = 5;
    let killed = false;
    let atKill = { accepted: 0, answered: 0 };
    const accepted: string[] = [];
    for (let i = 0; i < perSession; i++) {
      for (let s = 0; s < sessions; s += 20) {
        // 20 publishes in flight at a time, each acked by the stream: "accepted"
        await Promise.all(
          Array.from({ length: 20 }, (_, k) => {
            const id = `s${s + k}-${i}`;
            return c.js.publish(`claw.in.t.a.c${s + k}`, jsonBody({ id, text: String(i), sender: { id: "u" } })).then(() => accepted.push(id));
          }),
        );
        // killed once half is accepted and it is answering (a node still taking its partitions is not mid-load)
        if (!killed && accepted.length >= (sessions * perSession) / 2 && out.replies.length > 0) {
          killed = true;
          await first.kill("SIGKILL");
          // mid-load: it had answered some of what was accepted, and died with the rest still to answer
          // (CLAW_OUT's last sequence counts every reply it published before dying, read or not, and
          // nothing is published while no node runs)
          atKill = { accepted: accepted.length, answered: (await c.jsm.streams.info(STREAMS.out)).state.last_seq };
        }
        await new Promise((r) => setTimeout(r, 8));
      }
    }
    expect(killed).toBe(true);
    expect(atKill.answered, "replies before the kill").toBeGreaterThan(0);
    expect(atKill.answered, "replies before the kill").toBeLessThan(atKill.accepted);
    await using second = await startClaw({ env });
    void second;
    await out.waitForCount(accepted.length, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    const ids = out.replies.map((r) => r.replyTo!);
    expect(ids.length).toBe(accepted.length);
    expect(new Set(ids).size).toBe(accepted.length);
    for (let s = 0; s < sessions; s++) {
      const texts = out.replies.filter((r) => r.chat === `c${s}`).map((r) => r.text);
      expect(texts, `chat c${s}`).toEqual(["0", "1", "2", "3", "4"]);
    }
    for (const s of [0, 57, 199]) {
      expect((await historyOf(c, `c${s}`)).filter((t) => t.role === "user").map((t) => t.text)).toEqual(["0", "1", "2", "3", "4"]);
    }
    out.stop();
  }, 60_000);
});
