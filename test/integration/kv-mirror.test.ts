/**
 * A node's copy of a KV bucket (src/bus/kv-mirror.ts) reads its own writes:
 * after `caughtUp(revision)` of a write, the copy holds it. The webhooks
 * directory lists from such a copy, and a CI run saw a subscription created
 * and then not listed by the same node.
 */
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { mirrorBucket } from "../../src/bus/kv-mirror.js";
import { client, natsServer } from "../support/nats-server.js";

const text = new TextDecoder();

describe("a KV mirror", () => {
  it("holds a write once caughtUp(its revision) resolves, and drops a delete once caughtUp(the last sequence) does", async () => {
    await using server = await natsServer();
    await using c = await client(server.url);
    const kv = await new Kvm(c.js).create(`mirror_${Date.now()}`, { history: 1 });
    const live = mirrorBucket(kv, { prefix: "x", decode: (v) => text.decode(v) });
    try {
      await live.ready;
      // the wait holds until the copy has the revision asked for: asked before the write, it is still waiting after a while
      const next = (await kv.status()).streamInfo.state.last_seq + 1;
      let early = false;
      const waited = live.caughtUp(next, 30_000).then(() => ((early = true), live.get("first")));
      await new Promise((r) => setTimeout(r, 300));
      expect(early, "caughtUp resolved before the revision existed").toBe(false);
      expect(await kv.create("x.first", "one")).toBe(next);
      expect(await waited).toBe("one");
      for (let i = 0; i < 40; i++) {
        const revision = await kv.create(`x.k${i}`, `v${i}`);
        await live.caughtUp(revision);
        expect(live.get(`k${i}`)).toBe(`v${i}`);
      }
      for (let i = 0; i < 10; i++) {
        await kv.delete(`x.k${i}`);
        await live.caughtUp((await kv.status()).streamInfo.state.last_seq);
        expect(live.get(`k${i}`)).toBeUndefined();
      }
      expect(live.size).toBe(31);
    } finally {
      live.stop();
    }
  }, 60_000);

  it("gives up waiting after the timeout, and at once when stopped", async () => {
    await using server = await natsServer();
    await using c = await client(server.url);
    const kv = await new Kvm(c.js).create(`mirror_${Date.now()}`, { history: 1 });
    const live = mirrorBucket(kv, { prefix: "x", decode: (v) => text.decode(v) });
    await live.ready;
    const t0 = Date.now();
    await live.caughtUp(1_000_000, 300);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const pending = live.caughtUp(1_000_000, 60_000);
    live.stop();
    await pending;
  }, 60_000);
});
