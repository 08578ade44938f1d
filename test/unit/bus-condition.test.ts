import { describe, expect, it } from "vitest";
import { busCondition, type BusHealthEvent } from "../../src/bus/bus-condition.js";

describe("the bus' condition", () => {
  it("tells listeners only when the bus stops or starts serving, the connection's problem first", () => {
    const c = busCondition();
    const seen: BusHealthEvent["type"][] = [];
    c.subscribe((e) => seen.push(e.type));
    c.set("probe", "jetstream_unavailable", "no leader");
    c.set("connection", "nats_disconnected", "disconnect");
    expect(c.problem()).toMatchObject({ code: "nats_disconnected", reason: "nats: disconnected" });
    expect(c.disconnected()).toBe(true);
    c.set("connection", undefined);
    expect(c.problem()).toMatchObject({ code: "jetstream_unavailable", detail: "no leader" });
    c.set("probe", undefined);
    expect(c.problem()).toBeUndefined();
    expect(seen).toEqual(["bus.unavailable", "bus.available"]);
  });

  it("keeps the start of a problem that goes on, and starts anew with another code", async () => {
    const c = busCondition();
    c.set("probe", "storage_full", "first");
    const first = c.problem()!;
    await new Promise((r) => setTimeout(r, 5));
    c.set("probe", "storage_full", "again");
    expect(c.problem()).toBe(first);
    c.set("probe", "jetstream_unavailable", "other");
    expect(c.problem()!.since).toBeGreaterThan(first.since);
  });

  it("resolves whenAvailable once the bus serves again, or when the signal aborts", async () => {
    const c = busCondition();
    await c.whenAvailable(); // at once while it serves
    c.set("probe", "nats_not_responding", "slow");
    let resolved = false;
    const waiting = c.whenAvailable().then(() => (resolved = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(resolved).toBe(false);
    c.set("probe", undefined);
    await waiting;
    const stop = new AbortController();
    c.set("probe", "nats_not_responding", "slow");
    const aborted = c.whenAvailable(stop.signal);
    stop.abort();
    await aborted;
  });
});
