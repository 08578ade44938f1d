import { describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { connectBus, watchBusHealth, type BusHealthEvent } from "../../src/bus/index.js";
import { natsServer } from "../support/nats-server.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

describe("bus health", () => {
  it("tells a dead server, a stalled one and a full store apart, and when each is over", async () => {
    await using nats = await natsServer({ maxFileStore: "8MB" });
    const bus = await connectBus({ servers: [nats.url], name: "health-test" });
    const kv = await new Kvm(bus.js).create(`probe_${Date.now().toString(36)}`, { history: 1 });
    const events: BusHealthEvent[] = [];
    const health = watchBusHealth({ nc: bus.nc, probeWrite: () => kv.put("probe", "x"), intervalMs: 200, timeoutMs: 500 });
    health.subscribe((e) => events.push(e));
    try {
      await sleep(300);
      expect(health.problem()).toBeUndefined();

      // killed: the client reports the disconnect at once
      await nats.kill("SIGKILL");
      await until(() => health.problem()?.code === "nats_disconnected", 2_000, "nats_disconnected");
      expect(health.problem()?.reason).toBe("nats: disconnected");
      const waiting = health.whenAvailable();
      await nats.restart();
      await waiting;
      expect(events.map((e) => e.type)).toEqual(["bus.unavailable", "bus.reconnected", "bus.available"]);

      // stalled: the connection looks open, the probe's PONG does not come
      events.length = 0;
      process.kill(nats.pid!, "SIGSTOP");
      await until(() => health.problem() !== undefined, 5_000, "a stall to be noticed");
      expect(health.problem()?.code).toBe("nats_not_responding");
      process.kill(nats.pid!, "SIGCONT");
      await health.whenAvailable();
      expect(events.at(-1)?.type).toBe("bus.available");

      // full: connected and answering, but every write refused
      await bus.jsm.streams.add({ name: "FILL", subjects: ["fill.>"] });
      const chunk = new Uint8Array(256 * 1024);
      let refusal: unknown;
      for (let i = 0; i < 100 && !refusal; i++) await bus.js.publish("fill.x", chunk).catch((e: unknown) => (refusal = e));
      expect(refusal).toBeDefined();
      health.observe(refusal);
      expect(health.problem()).toMatchObject({ code: "storage_full", reason: "jetstream: storage full" });
      await sleep(500);
      expect(health.problem()?.code, "the probe's own write is refused too").toBe("storage_full");
      await bus.jsm.streams.delete("FILL");
      await until(() => health.available(), 2_000, "space to return");
    } finally {
      health.close();
      await bus.close();
    }
  }, 30_000);
});
