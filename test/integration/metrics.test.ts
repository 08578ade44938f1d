import { describe, expect, it } from "vitest";
import { startClaw } from "../support/claw-node.js";
import { client, natsServer } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody } from "../support/replies.js";
import { chatPartition } from "../../src/bus/index.js";

/** Parses Prometheus text into series → value (comments dropped). */
function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe("GET /metrics", () => {
  it("counts what was sent, has histogram buckets, and does not grow with the number of chats", async () => {
    await using nats = await natsServer();
    await using claw = await startClaw({ env: { NATS_URL: nats.url } });
    await using c = await client(nats.url);
    const out = await collectStreamReplies(c.js, c.jsm);
    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${claw.httpPort}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/plain");
      return series(await res.text());
    };
    for (let i = 0; i < 5; i++) await c.js.publish("claw.in.alpha.a.x", jsonBody({ id: `a${i}`, text: "hi", sender: { id: "u" } }));
    for (let i = 0; i < 3; i++) await c.js.publish("claw.in.beta.a.y", jsonBody({ id: `b${i}`, text: "hi", sender: { id: "u" } }));
    await c.js.publish("claw.in.gamma.a.z", jsonBody({ id: "g0", text: "/fail", sender: { id: "u" } }));
    await c.js.publish("claw.in.gamma.a.z", new TextEncoder().encode("{broken"));
    await out.waitForCount(9 + 1); // 8 replies, 1 error notice for /fail, 1 for the broken one
    let m = await scrape();
    for (let i = 0; i < 50 && m.get('claw_dlq_total{stage="ingress",reason="bad_encoding"}') !== 1; i++) {
      await new Promise((r) => setTimeout(r, 50));
      m = await scrape();
    }
    expect(m.get('claw_messages_in_total{channel="alpha"}')).toBe(5);
    expect(m.get('claw_messages_in_total{channel="beta"}')).toBe(3);
    expect(m.get('claw_messages_out_total{channel="alpha"}')).toBe(5);
    expect(m.get('claw_messages_out_total{channel="beta"}')).toBe(3);
    expect(m.get('claw_messages_out_total{channel="gamma"}')).toBeUndefined();
    expect(m.get('claw_dlq_total{stage="session",reason="scripted_fail"}')).toBe(1);
    expect(m.get('claw_dlq_total{stage="ingress",reason="bad_encoding"}')).toBe(1);
    expect(m.get('claw_stage_duration_seconds_count{stage="session"}')).toBe(9);
    expect(m.get('claw_stage_duration_seconds_bucket{le="+Inf",stage="end_to_end"}')).toBe(9);
    // the two chats answered were new: each first message's KV lookup (a miss), its actor, the write that created its key
    for (const stage of ["session_load", "actor_create", "first_snapshot"]) expect(m.get(`claw_stage_duration_seconds_count{stage="${stage}"}`), stage).toBe(2);
    expect([...m.keys()].filter((k) => k.startsWith("claw_stage_duration_seconds_bucket{") && k.includes('stage="ingress"')).length).toBeGreaterThan(10);
    expect(m.get("claw_partitions_owned")).toBe(64);
    expect(m.get("claw_leader")).toBe(1);
    expect(m.has("claw_nodejs_eventloop_lag_seconds")).toBe(true);
    expect(m.has("claw_nodejs_heap_size_used_bytes")).toBe(true);

    // series are bounded: more distinct chats add no series. Node's default metrics are left
    // out: their GC histogram gains a kind="major" series at the first major GC, whatever the load
    const own = (m: Map<string, number>) => [...m.keys()].filter((k) => !k.startsWith("claw_nodejs_") && !k.startsWith("claw_process_"));
    const send = async (from: number, n: number) => {
      for (let s = from; s < from + n; s += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, k) => c.js.publish(`claw.in.alpha.a.chat${s + k}`, jsonBody({ text: "x", sender: { id: "u" } }))));
      }
    };
    await send(0, 800);
    await out.waitForCount(10 + 800, 20_000);
    const beforeKeys = own(await scrape());
    const before = beforeKeys.length;
    await send(800, 1000);
    await out.waitForCount(10 + 1800, 30_000);
    const after = await scrape();
    expect(own(after).filter((k) => !beforeKeys.includes(k))).toEqual([]);
    expect(own(after).length).toBe(before);
    expect(before).toBeGreaterThan(60); // includes the per-partition pending gauges
    expect(after.get('claw_messages_in_total{channel="alpha"}')).toBe(1805);
    out.stop();
  }, 60_000);

  it("reports each owned partition's backlog, read from the server at scrape time", async () => {
    await using nats = await natsServer();
    await using claw = await startClaw({ env: { NATS_URL: nats.url } });
    await using c = await client(nats.url);
    const out = await collectStreamReplies(c.js, c.jsm);
    const pending = async (p: number): Promise<number | undefined> => {
      const m = series(await (await fetch(`http://127.0.0.1:${claw.httpPort}/metrics`)).text());
      const key = [...m.keys()].find((k) => k.startsWith("claw_consumer_pending{") && k.includes(`partition="${p}"`) && k.includes('stream="CLAW_IN"'));
      return key === undefined ? undefined : m.get(key);
    };
    const p = chatPartition({ channel: "slow", account: "a", chat: "q" }, 64);
    expect(await pending(p)).toBe(0);
    // one slow turn holds the chat; three more wait behind it in the same partition
    await c.js.publish("claw.in.slow.a.q", jsonBody({ id: "s0", text: "/slow 2000 wait", sender: { id: "u" } }));
    for (let i = 1; i <= 3; i++) await c.js.publish("claw.in.slow.a.q", jsonBody({ id: `s${i}`, text: "hi", sender: { id: "u" } }));
    await new Promise((r) => setTimeout(r, 1_100)); // past the reader's 1 s cache
    expect(await pending(p)).toBe(4);
    await out.waitForCount(4, 10_000);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await pending(p)).toBe(0);
    out.stop();
  }, 30_000);
});
