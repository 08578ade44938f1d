/**
 * The consumer lane alone, against a real nats-server: order (one at a time,
 * per key), a gap reset, a takeover, a reset after a server restart, backoff
 * and the choice between a reset and a nak, a drain on stop, and a lane that
 * ends when its consumer goes. Each test has its own stream.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, type JsMsg } from "@nats-io/jetstream";
import { connect, errors as natsErrors } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { randomBytes } from "node:crypto";
import {
  ConsumerLaneEndedError,
  LanePolicyError,
  defaultLanePolicy,
  startConsumerLane,
  type ConsumerLane,
  type ConsumerLaneOptions,
  type LaneEvent,
  type LanePolicy,
} from "../../src/bus/index.js";
import { client, natsServer, type NatsServerProcess, type TestClient } from "../support/nats-server.js";
import { startTcpProxy } from "../support/tcp-proxy.js";
import { until } from "../support/until.js";

const NS = 1_000_000;
/** Far longer than any test waits: a message that only an ack wait would bring back fails the test. */
const ACK_WAIT_MS = 120_000;
const BACKOFF = { baseMs: 300, factor: 2, maxMs: 2_000 };

let nats: NatsServerProcess;
let c: TestClient;

beforeAll(async () => {
  nats = await natsServer();
  c = await client(nats.url);
});

afterAll(async () => {
  await c?.[Symbol.asyncDispose]();
  await nats?.[Symbol.asyncDispose]();
});

/** A work-queue stream of this test's own, and the spec of one durable consumer on it. */
async function stream(t: TestClient = c): Promise<{ name: string; subject: (k: string) => string; spec: ConsumerLaneOptions["consumer"] }> {
  const id = randomBytes(4).toString("hex");
  const name = `LANE_${id}`;
  await t.jsm.streams.add({ name, subjects: [`lane.${id}.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  return {
    name,
    subject: (k) => `lane.${id}.${k}`,
    spec: {
      durable_name: `lane-${id}`,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ACK_WAIT_MS * NS,
      max_ack_pending: 256,
      max_deliver: -1,
    },
  };
}

async function publish(subject: string, n: number, from = 1): Promise<void> {
  for (let i = from; i < from + n; i++) await c.js.publish(subject, String(i));
}

const policy = (p: Partial<LanePolicy>): LanePolicy => ({ ...defaultLanePolicy(), ...p });
const num = (m: JsMsg) => Number(m.string());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A gate a handler waits at until the test opens it. */
function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

describe("a consumer lane", () => {
  it("hands a serial lane's messages over one at a time, in stream order", async () => {
    const s = await stream();
    await publish(s.subject("a"), 40);
    const seen: number[] = [];
    let running = 0;
    let most = 0;
    const lane = await startConsumerLane({
      bus: c,
      stream: s.name,
      consumer: s.spec,
      policy: policy({ ordering: { kind: "serial" }, pullBatch: 8 }),
      backoff: BACKOFF,
      handle: async (m) => {
        most = Math.max(most, ++running);
        await sleep(Math.random() * 4);
        seen.push(num(m));
        running--;
        m.ack();
      },
    });
    await until(() => seen.length === 40, "40 messages");
    await lane.stopPulling();
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(most).toBe(1);
  });

  it("runs one key's messages one after the other and other keys' side by side, at most maxInFlight at once", async () => {
    const s = await stream();
    // two of a key in a row: x1 x2 y1 y2 z1 z2 x3 x4 …; the first of each two takes longer
    for (let i = 1; i <= 10; i += 2) for (const k of ["x", "y", "z"]) for (const n of [i, i + 1]) await c.js.publish(s.subject(k), String(n));
    const seen = new Map<string, number[]>();
    let running = 0;
    let most = 0;
    const lane = await startConsumerLane({
      bus: c,
      stream: s.name,
      consumer: s.spec,
      policy: policy({ ordering: { kind: "per-key", key: (m) => m.subject, maxInFlight: 3 } }),
      backoff: BACKOFF,
      handle: async (m) => {
        most = Math.max(most, ++running);
        await sleep(num(m) % 2 === 1 ? 15 : 1);
        const list = seen.get(m.subject) ?? [];
        list.push(num(m));
        seen.set(m.subject, list);
        running--;
        m.ack();
      },
    });
    await until(() => [...seen.values()].reduce((n, l) => n + l.length, 0) === 30, "30 messages");
    await lane.stopPulling();
    for (const k of ["x", "y", "z"]) expect(seen.get(s.subject(k))).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(most).toBeGreaterThanOrEqual(2);
    expect(most).toBeLessThanOrEqual(3);
  });

  it("resets on a gap: a delivery lost on its way comes again at once, in order, not after its ack wait", async () => {
    const s = await stream();
    const seen: number[] = [];
    const events: LaneEvent[] = [];
    const first = gate();
    await publish(s.subject("a"), 2);
    const lane = await startConsumerLane({
      bus: c,
      stream: s.name,
      consumer: s.spec,
      policy: policy({ takeover: true, ordering: { kind: "serial" }, pullBatch: 1 }),
      backoff: BACKOFF,
      onEvent: (e) => events.push(e),
      handle: async (m) => {
        if (num(m) === 1) await first.wait;
        seen.push(num(m));
        m.ack();
      },
    });
    // 1 is held by its handler and 2 waits behind it (serial): the lane asks for nothing more meanwhile
    const info = () => c.jsm.consumers.info(s.name, s.spec.durable_name);
    await until(() => lane.inFlight() === 1, "message 1 taken");
    for (let i = 0; i < 50 && (await info()).delivered.consumer_seq < 2; i++) await sleep(20);
    expect((await info()).delivered.consumer_seq).toBe(2);
    // another reader takes delivery 3: to the lane it is lost, as if in transit when a server died
    await using thief = await client(nats.url);
    const stolen = await (await thief.js.consumers.get(s.name, s.spec.durable_name)).fetch({ max_messages: 1, expires: 10_000 });
    await publish(s.subject("a"), 1, 3);
    for await (const m of stolen) expect(num(m)).toBe(3);
    first.open();
    await until(() => seen.length === 2, "1 and 2");
    await publish(s.subject("a"), 1, 4); // delivery 4 right after 2: the lane sees the gap
    await until(() => seen.length === 4, "3 and 4", 10_000);
    await lane.stopPulling();
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(events).toContainEqual({ type: "lane.gap", expected: 3, got: 4 });
  });

  it("takes over a consumer its previous holder left unacked: those messages come at once, in order", async () => {
    const s = await stream();
    await publish(s.subject("a"), 5);
    // the previous holder takes all five and dies without acking
    const dead = await connect({ servers: nats.url });
    const held: number[] = [];
    const first = await startConsumerLane({
      bus: { js: jetstream(dead), jsm: await jetstreamManager(dead) },
      stream: s.name,
      consumer: s.spec,
      policy: policy({ takeover: true }),
      backoff: BACKOFF,
      handle: async (m) => void held.push(num(m)),
    });
    await until(() => held.length === 5, "the first holder's five");
    await dead.close();
    await first.stopPulling();
    const seen: number[] = [];
    const takeovers: Array<{ from: number; to: number } | undefined> = [];
    const lane = await startConsumerLane({
      bus: c,
      stream: s.name,
      consumer: s.spec,
      policy: policy({ takeover: true, ordering: { kind: "serial" } }),
      backoff: BACKOFF,
      onTakeover: (t, first) => void (first && takeovers.push(t.leftUnacked)),
      handle: async (m) => {
        seen.push(num(m));
        m.ack();
      },
    });
    await until(() => seen.length === 5, "five again", 10_000);
    await lane.stopPulling();
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(takeovers).toEqual([{ from: 1, to: 5 }]);
  });

  it("resets after its server is killed and restarted: everything handled, first handled in stream order, no ack wait waited out", async () => {
    await using server = await natsServer();
    const conn = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    const t: TestClient = { nc: conn, js: jetstream(conn), jsm: await jetstreamManager(conn), [Symbol.asyncDispose]: async () => void (await conn.close()) };
    await using _t = t;
    const s = await stream(t);
    for (let i = 1; i <= 300; i++) await t.js.publish(s.subject("a"), String(i));
    const firsts: number[] = [];
    const handled = new Set<number>();
    const lane: ConsumerLane = await startConsumerLane({
      bus: t,
      stream: s.name,
      consumer: s.spec,
      policy: policy({ takeover: true, ordering: { kind: "serial" }, pullBatch: 16, onFailure: { transient: "reset", other: "nak" } }),
      backoff: BACKOFF,
      handle: async (m) => {
        await sleep(3);
        if (!handled.has(num(m))) firsts.push(num(m));
        handled.add(num(m));
        m.ack();
      },
    });
    // as the node does: deliveries and acks on the lost connection may be gone
    void (async () => {
      for await (const st of conn.status()) if (st.type === "reconnect") lane.resync();
    })();
    await until(() => handled.size >= 100, "a hundred before the kill");
    await server.kill("SIGKILL");
    await sleep(500);
    await server.restart();
    await until(() => handled.size === 300, "all 300 after the restart", 30_000);
    await lane.stopPulling();
    expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
  }, 60_000);

  it("takes its consumer over again after a lost connection (resync): deliveries lost with it come at once, in order", async () => {
    await using proxy = await startTcpProxy(nats.port);
    const conn = await connect({ servers: proxy.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const t: TestClient = { nc: conn, js: jetstream(conn), jsm: await jetstreamManager(conn), [Symbol.asyncDispose]: async () => void (await conn.close()) };
    await using _t = t;
    const s = await stream();
    const seen: number[] = [];
    const lane = await startConsumerLane({
      bus: t,
      stream: s.name,
      consumer: s.spec,
      policy: policy({ takeover: true, ordering: { kind: "serial" }, pullBatch: 16 }),
      backoff: BACKOFF,
      handle: async (m) => {
        seen.push(num(m));
        m.ack();
      },
    });
    void (async () => {
      for await (const st of conn.status()) if (st.type === "reconnect") lane.resync();
    })();
    await publish(s.subject("a"), 2);
    await until(() => seen.length === 2, "1 and 2");
    // 3–5 are delivered into a dead link: the server counts them delivered, the lane never sees them
    proxy.cut();
    await publish(s.subject("a"), 3, 3);
    for (let i = 0; i < 50 && (await c.jsm.consumers.info(s.name, s.spec.durable_name)).delivered.consumer_seq < 5; i++) await sleep(20);
    expect((await c.jsm.consumers.info(s.name, s.spec.durable_name)).delivered.consumer_seq).toBe(5);
    proxy.drop();
    proxy.heal();
    await until(() => seen.length === 5, "3–5 after the reconnect", 10_000);
    await lane.stopPulling();
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it("resets on a transient failure (the message comes again before the next) and naks another with backoff", async () => {
    const s = await stream();
    await publish(s.subject("a"), 4);
    const seen: Array<[number, number]> = [];
    const events: LaneEvent[] = [];
    const failedOnce = new Set<number>();
    const at = new Map<number, number[]>();
    const lane = await startConsumerLane({
      bus: c,
      stream: s.name,
      consumer: s.spec,
      policy: policy({ takeover: true, ordering: { kind: "serial" }, onFailure: { transient: "reset", other: "nak" } }),
      backoff: BACKOFF,
      onEvent: (e) => events.push(e),
      handle: async (m) => {
        const n = num(m);
        at.set(n, [...(at.get(n) ?? []), Date.now()]);
        if (!failedOnce.has(n) && (n === 2 || n === 3)) {
          failedOnce.add(n);
          // 2: NATS did not answer in time (transient); 3: anything else
          throw n === 2 ? new natsErrors.TimeoutError() : new Error("refused");
        }
        seen.push([n, m.info.deliveryCount]);
        m.ack();
      },
    });
    await until(() => seen.length === 4, "four handled", 10_000);
    await lane.stopPulling();
    // 2 again before 3; 3 nak'ed behind 4 and back after its backoff
    expect(seen.map(([n]) => n)).toEqual([1, 2, 4, 3]);
    const failed = events.find((e) => e.type === "message.failed");
    expect(failed).toMatchObject({ type: "message.failed", error: "refused" });
    const retryInMs = (failed as { retryInMs: number }).retryInMs;
    expect(retryInMs).toBeGreaterThanOrEqual(BACKOFF.baseMs / 2);
    expect(retryInMs).toBeLessThanOrEqual(BACKOFF.baseMs);
    const [t1, t2] = at.get(3)!;
    expect(t2 - t1).toBeGreaterThanOrEqual(retryInMs - 50);
  });

  it("drains on stop: handlers in flight end and settle, nothing more is taken, and what it pulled comes to the next reader once", async () => {
    const s = await stream();
    // a short ack wait: what a continuous pull held when its lane stopped comes back after it
    const spec = { ...s.spec, ack_wait: 2_000 * NS };
    await publish(s.subject("a"), 10);
    const g = gate();
    const taken: number[] = [];
    const lane = await startConsumerLane({
      bus: c,
      stream: s.name,
      consumer: spec,
      policy: policy({ ordering: { kind: "parallel", maxInFlight: 2 }, pullBatch: 10 }),
      backoff: BACKOFF,
      handle: async (m) => {
        taken.push(num(m));
        await g.wait;
        m.ack();
      },
    });
    // 1 and 2 run, 3–10 wait in the lane's buffer for room
    await until(() => taken.length === 2, "two in flight");
    await lane.stopPulling();
    expect(lane.inFlight()).toBe(2);
    let drained = false;
    const draining = lane.drained().then(() => (drained = true));
    await sleep(100);
    expect(drained).toBe(false);
    g.open();
    await draining;
    expect(taken).toEqual([1, 2]);
    const rest: number[] = [];
    for await (const m of await (await c.js.consumers.get(s.name, s.spec.durable_name)).fetch({ max_messages: 9, expires: 6_000 })) {
      rest.push(num(m));
      m.ack();
    }
    expect(rest.sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("refuses to start with a policy that cannot work, before it makes its consumer", async () => {
    const s = await stream();
    const started = startConsumerLane({
      bus: c,
      stream: s.name,
      consumer: s.spec,
      policy: policy({ onFailure: { transient: "reset", other: "nak" } }),
      backoff: BACKOFF,
      handle: async (m) => m.ack(),
    });
    await expect(started).rejects.toBeInstanceOf(LanePolicyError);
    await expect(started).rejects.toMatchObject({ code: "LANE_POLICY" });
    await expect(c.jsm.consumers.info(s.name, s.spec.durable_name)).rejects.toThrow();
  });

  it("ends, when its policy says so, once its consumer is removed", async () => {
    const s = await stream();
    const lane = await startConsumerLane({
      bus: c,
      stream: s.name,
      consumer: s.spec,
      policy: policy({ whenPullFails: "end" }),
      backoff: BACKOFF,
      handle: async (m) => m.ack(),
    });
    await c.jsm.consumers.delete(s.name, s.spec.durable_name);
    const why = await Promise.race([lane.ended, sleep(10_000).then(() => undefined)]);
    expect(why).toBeInstanceOf(ConsumerLaneEndedError);
    expect(why?.code).toBe("CONSUMER_LANE_ENDED");
    await lane.stopPulling();
  });
});
