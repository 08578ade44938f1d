/**
 * What Claw's streams store, and how much (F10): a NATS publisher limited to
 * one channel (`claw.in.shop.>`) could fill JetStream with 6-token subjects
 * that `claw.in.*.*.*.*` stored and no partition owner ever read, in streams
 * without an age or byte limit. `CLAW_IN` and `CLAW_SESSIONS` now store only
 * their partitions' subjects, every stream has limits from the settings, and
 * streams an earlier version made are brought to them at start.
 */
import { RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { STREAMS } from "../../src/bus/index.js";
import { runClawExpectingFailure, startClaw } from "../support/claw-node.js";
import { client, natsServer } from "../support/nats-server.js";
import { jsonBody } from "../support/replies.js";

const NS_PER_DAY = 24 * 3600 * 1e9;
const MiB = 1024 * 1024;
const partitionSubjects = (kind: "in" | "session", n: number) => Array.from({ length: n }, (_, p) => `claw.${kind}.${p}.*.*${kind === "in" ? ".*" : ""}`);

describe("stream subjects and limits", () => {
  it("stores no subject a partition owner does not read, and gives every stream an age and a byte limit", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await using claw = await startClaw({
      env: {
        NATS_URL: nats.url,
        CLAW_STREAM_MAX_BYTES: "64MB",
        CLAW_STREAM_MAX_AGE_DAYS: "3",
        CLAW_DLQ_MAX_AGE_DAYS: "20",
        CLAW_TRANSCRIPTS_MAX_AGE_DAYS: "10",
      },
    });
    void claw;
    // what a channel-limited publisher can send: six tokens, the third not a partition
    for (const stray of ["claw.in.shop.a.b.c", "claw.in.64.a.b.c", "claw.session.shop.a.b"]) {
      await expect(c.js.publish(stray, jsonBody({ id: stray, text: "fill", sender: { id: "u" } })), stray).rejects.toThrow();
      await expect(c.jsm.streams.find(stray), stray).rejects.toThrow();
    }
    // the mapped form of a channel's subject is still stored, and answered
    const ack = await c.js.publish("claw.in.shop.a.b", jsonBody({ id: "ok-1", text: "hi", sender: { id: "u" } }));
    expect(ack.stream).toBe(STREAMS.in);

    const config = async (name: string) => (await c.jsm.streams.info(name)).config;
    expect((await config(STREAMS.in)).subjects).toEqual(partitionSubjects("in", 64));
    expect((await config(STREAMS.sessions)).subjects).toEqual(partitionSubjects("session", 64));
    const ages: Record<string, number> = {
      [STREAMS.in]: 3,
      [STREAMS.sessions]: 3,
      [STREAMS.out]: 3,
      [STREAMS.webhooks]: 3,
      [STREAMS.skills]: 1,
      [STREAMS.dlq]: 20,
      [STREAMS.transcripts]: 10,
      [STREAMS.audit]: 90,
    };
    const names: string[] = [];
    for await (const n of c.jsm.streams.names()) if (n.startsWith("CLAW_")) names.push(n);
    expect(names.sort()).toEqual(Object.keys(ages).sort());
    for (const [name, days] of Object.entries(ages)) {
      const s = await config(name);
      expect({ name, max_age: s.max_age, max_bytes: s.max_bytes }).toEqual({ name, max_age: days * NS_PER_DAY, max_bytes: 64 * MiB });
    }
  }, 60_000);

  it("brings the streams an earlier version made to the settings when it starts (an upgrade)", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    // as 0.1 made it: every 6-token inbound subject, no limits — and a stray message in it already
    await c.jsm.streams.add({ name: STREAMS.in, subjects: ["claw.in.*.*.*.*"], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
    await c.js.publish("claw.in.shop.a.b.c", jsonBody({ id: "stray-old", text: "fill", sender: { id: "u" } }));
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_STREAM_MAX_BYTES: "32MB" } });
    const s = (await c.jsm.streams.info(STREAMS.in)).config;
    expect(s.subjects).toEqual(partitionSubjects("in", 64));
    expect(s.max_bytes).toBe(32 * MiB);
    expect(s.max_age).toBe(7 * NS_PER_DAY);
    const updated = await claw.waitForLogs((l) => l.msg === "stream brought to this node's settings" && l.stream === STREAMS.in);
    expect(String((updated[0]!.changes as string[])[0])).toContain("claw.in.*.*.*.*");
    await expect(c.js.publish("claw.in.shop.a.b.c", jsonBody({ id: "stray-new", text: "fill", sender: { id: "u" } }))).rejects.toThrow();
  }, 60_000);

  it("says which setting to change when the store cannot hold the byte limit asked for, and keeps the default's streams without one", async () => {
    await using nats = await natsServer({ maxFileStore: "16MB" });
    const r = await runClawExpectingFailure({ NATS_URL: nats.url, CLAW_STREAM_MAX_BYTES: "1GB" });
    expect(r.code).toBe(1);
    expect(r.output).toContain("JetStream cannot reserve 1073741824 bytes for stream");
    expect(r.output).toContain("set CLAW_STREAM_MAX_BYTES");
    // the default (not chosen by anyone) gives way on a small store, and says so
    await using claw = await startClaw({ env: { NATS_URL: nats.url } });
    await claw.waitForLogs((l) => String(l.msg).includes("JetStream cannot reserve") && String(l.msg).includes("keeping it without a byte limit"));
  }, 60_000);
});
