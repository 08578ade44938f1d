import type { KV } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { createSessionStore, type StoredSnapshot } from "../../src/actors/index.js";
import { bucketSpecs, BUCKETS, connectBus, defaultSpecOptions, ensureBucket, sessionKey, type Bus } from "../../src/bus/index.js";
import { natsServer } from "../support/nats-server.js";

/** `kv`, counting its `get` calls: the store's reads must not go through it while the bucket answers direct gets. */
function countingGets(kv: KV): { kv: KV; gets: () => number } {
  let gets = 0;
  const counted = new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === "get") return (...args: Parameters<KV["get"]>) => (gets++, target.get(...args));
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return { kv: counted, gets: () => gets };
}

/** What a load says of missing, written, written again and deleted keys, and how many `kv.get` calls it made. */
async function walk(bus: Bus, kv: KV, tag: string): Promise<{ seen: (Omit<StoredSnapshot, "updatedAt"> & { dated: boolean })[]; gets: number }> {
  const c = countingGets(kv);
  const store = createSessionStore(c.kv, { publisher: { js: bus.publisher, bucket: kv.bucket } });
  const key = sessionKey("echo", `t:a:${tag}`);
  const seen: (Omit<StoredSnapshot, "updatedAt"> & { dated: boolean })[] = [];
  const look = async (k = key) => {
    const { updatedAt, ...s } = await store.load(k);
    seen.push({ ...s, dated: updatedAt instanceof Date && !Number.isNaN(updatedAt.getTime()) });
  };
  await look(); // never written
  const r1 = await store.save(key, { status: "active", value: "idle", context: { n: 1 } }, 0);
  await look();
  await store.save(key, { status: "active", value: "idle", context: { n: 2 } }, r1);
  await look();
  await kv.delete(key);
  await look(); // a delete marker: nothing to restore, and the next save expects its revision
  await look(sessionKey("echo", `t:a:${tag}-other`)); // another key of the same bucket is not this one
  return { seen, gets: c.gets() };
}

/** What {@link walk} sees, [the snapshot's n, whether a revision is named]: nothing, 1, 2, a delete, another key's nothing. */
const WALKED = [
  [undefined, false],
  [1, true],
  [2, true],
  [undefined, true],
  [undefined, false],
];
const walked = (r: Awaited<ReturnType<typeof walk>>) =>
  r.seen.map((s) => [s.snapshot === undefined ? undefined : (s.snapshot as { context: { n: number } }).context.n, s.revision > 0]);

describe("session store reads", () => {
  it("read a session with a direct get on the shared inbox — a miss, a snapshot, a newer one, a delete — as the KV client reads it", async () => {
    await using nats = await natsServer();
    const bus = await connectBus({ servers: [nats.url], name: "test" });
    try {
      for (const b of bucketSpecs(defaultSpecOptions())) await ensureBucket(bus.kvm, b);
      const kv = await bus.kvm.open(BUCKETS.sessions);
      const direct = await walk(bus, kv, "direct");
      // the precondition: the bucket allows direct gets, and not one read went through kv.get
      expect((await (await bus.jsm.streams.info(`KV_${BUCKETS.sessions}`)).config).allow_direct).toBe(true);
      expect(direct.gets).toBe(0);
      expect(walked(direct)).toEqual(WALKED);
      expect(direct.seen.slice(1, 3).every((s) => s.dated)).toBe(true);

      // the same steps through the KV client's get (a store without the publisher) see the same
      const kvOnly = createSessionStore(kv);
      const key = sessionKey("echo", "t:a:direct");
      const [a, b] = [await kvOnly.load(key), await createSessionStore(kv, { publisher: { js: bus.publisher, bucket: kv.bucket } }).load(key)];
      expect(b).toEqual(a);
    } finally {
      await bus.close();
    }
  });

  it("read through the KV client from a bucket made without direct gets", async () => {
    await using nats = await natsServer();
    const bus = await connectBus({ servers: [nats.url], name: "test" });
    try {
      const kv = await bus.kvm.create("no_direct", { history: 1, allow_direct: false });
      expect((await bus.jsm.streams.info("KV_no_direct")).config.allow_direct).toBe(false);
      const r = await walk(bus, kv, "fallback");
      expect(walked(r)).toEqual(WALKED);
      // every read went to kv.get
      expect(r.gets).toBe(5);
    } finally {
      await bus.close();
    }
  });

  it("leave a key KV would refuse to the KV client's check, never to a wildcard read", async () => {
    await using nats = await natsServer();
    const bus = await connectBus({ servers: [nats.url], name: "test" });
    try {
      for (const b of bucketSpecs(defaultSpecOptions())) await ensureBucket(bus.kvm, b);
      const kv = await bus.kvm.open(BUCKETS.sessions);
      const store = createSessionStore(kv, { publisher: { js: bus.publisher, bucket: kv.bucket } });
      await store.save(sessionKey("echo", "t:a:someone"), { status: "active", value: "idle", context: { n: 7 } }, 0);
      for (const key of ["echo.>", "echo.*", "echo.t a"]) await expect(store.load(key)).rejects.toThrow(/invalid key/i);
    } finally {
      await bus.close();
    }
  });
});
