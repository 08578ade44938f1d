import { JetStreamApiError } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { describe, expect, it } from "vitest";
import { connectBus, createOrTakeStore, defaultSpecOptions, ensureStream, streamSpecs } from "../../src/bus/index.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { provision } from "../../src/supervisors/node-provision.js";
import { natsServer } from "../support/nats-server.js";

/** What nats-server 2.9 answered a node whose add of a store's stream lost the race to another node's (a CI run). */
const lostRace = () => new JetStreamApiError({ code: 400, err_code: 10065, description: "subjects overlap with an existing stream" });

describe("provisioning", () => {
  it("provisions streams, buckets and object stores when four nodes start together on fresh servers", async () => {
    for (let round = 0; round < 4; round++) {
      await using nats = await natsServer();
      const buses = await Promise.all([0, 1, 2, 3].map((i) => connectBus({ servers: [nats.url], name: `node-${i}` })));
      try {
        const config = loadConfig({ NATS_URL: nats.url, CLAW_NODE_ID: "race" });
        const log = createLogger("silent", "race");
        await Promise.all(buses.map((b) => provision(b, config, log)));
        const names: string[] = [];
        for await (const n of buses[0]!.jsm.streams.names()) names.push(n);
        for (const s of streamSpecs(defaultSpecOptions())) expect(names).toContain(s.name);
        expect(names).toEqual(expect.arrayContaining(["KV_claw_sessions", "OBJ_claw_media", "OBJ_claw_skill_files"]));
        // (a stream's create racing an identical one is taken by the server: ensureStream says so either way)
        await Promise.all(buses.map((b) => ensureStream(b.jsm, streamSpecs(defaultSpecOptions())[0]!, () => {})));
      } finally {
        await Promise.all(buses.map((b) => b.close()));
      }
    }
  }, 120_000);

  it("takes the store another node made when its own create lost the race, and keeps every other refusal", async () => {
    await using nats = await natsServer();
    const bus = await connectBus({ servers: [nats.url], name: "node" });
    try {
      const objm = new Objm(bus.js);
      await objm.create("made_by_another", { replicas: 1 });
      // the stream exists (another node's): the refusal of our add is the race, and the store is opened
      const store = await createOrTakeStore(
        "OBJ_made_by_another",
        bus.jsm,
        () => Promise.reject(lostRace()),
        () => objm.open("made_by_another"),
      );
      expect((await store.status()).bucket).toBe("made_by_another");
      const kv = await createOrTakeStore(
        "KV_claw_x",
        bus.jsm,
        () => bus.kvm.create("claw_x", { history: 1 }),
        () => bus.kvm.open("claw_x"),
      );
      expect(
        await createOrTakeStore(
          "KV_claw_x",
          bus.jsm,
          () => Promise.reject(lostRace()),
          () => bus.kvm.open("claw_x"),
        ),
      ).toBeDefined();
      expect(kv.bucket).toBe("claw_x");
      // no such stream: the overlap is real (another stream holds the subjects), and stays the error
      await expect(
        createOrTakeStore(
          "OBJ_nowhere",
          bus.jsm,
          () => Promise.reject(lostRace()),
          () => objm.open("nowhere"),
        ),
      ).rejects.toThrow(/subjects overlap/);
      // any other refusal is not the race
      const other = new JetStreamApiError({ code: 400, err_code: 10047, description: "insufficient storage resources available" });
      await expect(
        createOrTakeStore(
          "OBJ_made_by_another",
          bus.jsm,
          () => Promise.reject(other),
          () => objm.open("made_by_another"),
        ),
      ).rejects.toThrow(/insufficient/);
    } finally {
      await bus.close();
    }
  });
});
