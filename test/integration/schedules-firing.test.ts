/**
 * The exactly-once of schedules does not rest on one node firing: two
 * schedulers that both think they lead (a leader change, seen from both
 * sides) fire the same schedules side by side into a stream on a real
 * nats-server, and the stream holds each occurrence once — the
 * `Nats-Msg-Id` makes the second publish a duplicate, and the
 * compare-and-set lets one record win.
 */
import { describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { createJsPublisher, decode, type Envelope } from "../../src/bus/index.js";
import { scheduleStore, startScheduler, type SchedulerEvent } from "../../src/schedules/index.js";
import { client, natsServer } from "../support/nats-server.js";

describe("two schedulers firing at once", () => {
  it("make one message per occurrence", async () => {
    await using nats = await natsServer({ partitionMapping: false });
    await using c = await client(nats.url);
    await c.jsm.streams.add({ name: "FIRED", subjects: ["claw.in.>"], duplicate_window: 120_000_000_000 });
    const kv = await new Kvm(c.js).create("claw_schedules", { history: 1 });
    const store = scheduleStore(kv);
    const address = { channel: "t", account: "a", chat: "both" };
    const { schedule: s } = await store.create({ address, text: "tick", every: "1s", missed: "once" });
    const events: SchedulerEvent[] = [];
    const [pa, pb] = [createJsPublisher(c.nc), createJsPublisher(c.nc)];
    const both = [pa, pb].map((publisher, i) =>
      startScheduler({ kv, publisher, nodeId: `n${i}`, graceMs: 60_000, leading: () => true, onEvent: (e) => events.push(e) }),
    );
    await new Promise((r) => setTimeout(r, 4_500));
    await store.remove(s.id);
    await Promise.all(both.map((x) => x.stop()));
    pa.close();
    pb.close();

    const info = await c.jsm.streams.info("FIRED");
    const ids: string[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await c.jsm.streams.getMessage("FIRED", { seq });
      ids.push(decode<Envelope>(m!.data).id);
    }
    expect(ids.length).toBeGreaterThanOrEqual(3);
    expect(new Set(ids).size, `each occurrence once: ${ids.join(", ")}`).toBe(ids.length);
    const times = ids.map((id) => Date.parse(id.slice(s.id.length + 1)));
    expect(times).toEqual(times.map((_, k) => s.created + (k + 1) * 1_000));
    // both fired: the second of a pair was absorbed as a duplicate, or lost its compare-and-set
    const fired = events.filter((e) => e.type === "schedule.fired");
    expect(fired.length + events.filter((e) => e.type === "schedule.failed").length).toBeGreaterThan(ids.length);
  }, 30_000);
});
