import { describe, expect, it } from "vitest";
import { Kvm, KvWatchInclude } from "@nats-io/kv";
import { BUCKETS, chatPartition } from "../../src/bus/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { clusterView } from "../support/cluster.js";
import { client, natsServer, type TestClient } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody, type ReplyCollector } from "../support/replies.js";
import { loaded } from "../support/timing.js";
import { until } from "../support/until.js";

const P = 64;

/** Publishes `perSession` messages to each of `sessions` chats, paced, calling `during` after each batch. */
async function load(c: TestClient, sessions: number, perSession: number, during: (sent: number) => Promise<void>): Promise<string[]> {
  const accepted: string[] = [];
  for (let i = 0; i < perSession; i++) {
    for (let s = 0; s < sessions; s += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, sessions - s) }, (_, k) => {
          const id = `c${s + k}-${i}`;
          return c.js.publish(`claw.in.load.a.c${s + k}`, jsonBody({ id, text: String(i), sender: { id: "u" } })).then(() => accepted.push(id));
        }),
      );
      await new Promise((r) => setTimeout(r, 15));
      await during(accepted.length);
    }
  }
  return accepted;
}

/**
 * The heartbeat TTL of the failover test: a dead node is gone from the bus at once (presence), so its
 * partitions move long before its heartbeat expires. Raised from the default 3 s so that a failover within
 * the margin a loaded machine needs (test/support/timing.ts) is still one that did not wait for the expiry:
 * heartbeats are written every TTL/3, so the dead node's expires 10 s after the kill at the earliest. (The
 * lease TTL stays: the leader's ticks, which reassign the partitions, come every lease TTL/3.)
 */
const HEARTBEAT_TTL = { CLAW_MEMBER_TTL_MS: "15000" };

/**
 * The lease TTL of the election test. The lease is renewed, and a follower tries to take it, every TTL/3: a
 * follower that sees the leader gone takes it at most about 2/3 TTL after its last renewal, one that waits
 * for its expiry a whole TTL after. 9 s (the default is 3) leaves that difference 3 s wide, room enough for
 * a loaded machine.
 */
const LEASE_TTL_MS = 9_000;

/** Starts nodes n1..n3 against `url` (with `env`) and waits until they share the partitions. */
async function threeNodes(url: string, c: TestClient, nodes: ClawProcess[], env: Record<string, string> = {}) {
  for (const id of ["n1", "n2", "n3"]) nodes.push(await startClaw({ env: { NATS_URL: url, CLAW_NODE_ID: id, ...env } }));
  const view = await clusterView(c.js);
  return { view, assignment: await view.settled(["n1", "n2", "n3"], P) };
}

async function expectExactlyOnceInOrder(out: ReplyCollector, accepted: string[], sessions: number, perSession: number) {
  await out.waitForCount(accepted.length, 40_000);
  await new Promise((r) => setTimeout(r, 500));
  const ids = out.replies.map((r) => r.replyTo!);
  expect(ids.length).toBe(accepted.length);
  expect(new Set(ids).size).toBe(accepted.length);
  for (let s = 0; s < sessions; s++) {
    expect(
      out.replies.filter((r) => r.chat === `c${s}`).map((r) => r.text),
      `chat c${s}`,
    ).toEqual(Array.from({ length: perSession }, (_, i) => String(i)));
  }
}

describe("a cluster of Claw nodes", () => {
  it(
    "survives SIGKILL of a node mid-load: exactly once, in order, its partitions served again before its heartbeat expires (2.5 s promised, measured " +
      "by the bench)",
    async () => {
      await using nats = await natsServer();
      await using c = await client(nats.url);
      const nodes: ClawProcess[] = [];
      try {
        const { view, assignment: before } = await threeNodes(nats.url, c, nodes, HEARTBEAT_TTL);
        for (const id of ["n1", "n2", "n3"]) expect(before.owners.filter((o) => o === id).length).toBeGreaterThan(5);
        const victimPartitions = before.owners.flatMap((o, p) => (o === "n2" ? [p] : []));
        const out = await collectStreamReplies(c.js, c.jsm);
        let killedAt = 0;
        let recoveredMs = -1;
        const accepted = await load(c, 200, 8, async (sent) => {
          if (!killedAt && sent >= 600) {
            killedAt = Date.now();
            await nodes[1]!.kill("SIGKILL");
            // measure in the background how long the victim's partitions stay unowned
            void (async () => {
              for (;;) {
                const claims = await view.claims(P);
                if (victimPartitions.every((p) => claims[p] !== undefined && claims[p] !== "n2")) {
                  recoveredMs = Date.now() - killedAt;
                  return;
                }
                if (Date.now() - killedAt > 20_000) return;
                await new Promise((r) => setTimeout(r, 25));
              }
            })();
          }
        });
        await expectExactlyOnceInOrder(out, accepted, 200, 8);
        const after = await view.settled(["n1", "n3"], P);
        expect(after.epoch).toBeGreaterThan(before.epoch);
        console.log(`failover: the killed node's ${victimPartitions.length} partitions were served again after ${recoveredMs} ms`);
        expect(recoveredMs).toBeGreaterThan(0);
        // a dead node is gone from the bus at once (presence); its heartbeat takes 10 s or more to expire
        expect(recoveredMs).toBeLessThan(loaded(2_500));
        out.stop();
      } finally {
        await Promise.all(nodes.map((n) => n.kill("SIGKILL")));
      }
    },
    90_000,
  );

  it(
    "elects a new leader before its lease expires when the leader dies (2.5 s promised, measured by the bench), and never lets two nodes own a " + "partition",
    async () => {
      await using nats = await natsServer();
      await using c = await client(nats.url);
      const nodes = new Map<string, ClawProcess>();
      try {
        // (the heartbeats' TTL raised too: a follower that waited for the dead leader's heartbeat to expire is no better)
        for (const id of ["n1", "n2", "n3"])
          nodes.set(id, await startClaw({ env: { NATS_URL: nats.url, CLAW_NODE_ID: id, CLAW_LEASE_TTL_MS: String(LEASE_TTL_MS), ...HEARTBEAT_TTL } }));
        const view = await clusterView(c.js);
        const before = await view.settled(["n1", "n2", "n3"], P);
        // record every claim change from here on
        const history: Array<{ p: number; node?: string; op: string; at: number }> = [];
        const watch = await view.cluster.watch({ key: "claim.>", include: KvWatchInclude.UpdatesOnly });
        void (async () => {
          for await (const e of watch)
            history.push({
              p: Number(e.key.split(".")[1]),
              node: e.operation === "PUT" ? e.json<{ node: string }>().node : undefined,
              op: e.operation,
              at: Date.now(),
            });
        })();
        const leader = (await view.leader())!;
        expect(nodes.has(leader)).toBe(true);
        // when the leader's lease was written (renewed every TTL/3) and by whom: a new leader before its expiry
        // (a TTL after its last renewal) is one that saw the old leader gone, not one that waited out its lease
        const leases: Array<{ node: string; at: number }> = [];
        const leaseWatch = await (await new Kvm(c.js).open(BUCKETS.lease)).watch({ key: "leader", include: KvWatchInclude.UpdatesOnly });
        void (async () => {
          for await (const e of leaseWatch) if (e.operation === "PUT") leases.push({ node: e.string(), at: Date.now() });
        })();
        await until(() => leases.some((l) => l.node === leader), "a renewal of the leader's lease");
        // traffic through the kill: which node answers each partition's chats says who consumed it
        const out = await collectStreamReplies(c.js, c.jsm);
        let killedAt = 0;
        const traffic = load(c, 100, 6, async (sent) => {
          if (!killedAt && sent >= 200) {
            killedAt = Date.now();
            await nodes.get(leader)!.kill("SIGKILL");
          }
        });
        while (!killedAt) await new Promise((r) => setTimeout(r, 5));
        let newLeader: string | undefined;
        while (Date.now() - killedAt < 15_000) {
          newLeader = await view.leader();
          if (newLeader && newLeader !== leader) break;
          await new Promise((r) => setTimeout(r, 25));
        }
        const electedMs = Date.now() - killedAt;
        console.log(`leader ${leader} killed; ${newLeader} elected after ${electedMs} ms`);
        expect(newLeader).toBeDefined();
        expect(newLeader).not.toBe(leader);
        expect(electedMs).toBeLessThan(loaded(2_500));
        await until(() => leases.some((l) => l.node === newLeader), "the new leader's lease");
        leaseWatch.stop();
        const renewed = leases.filter((l) => l.node === leader).at(-1)!.at;
        const taken = leases.find((l) => l.node === newLeader)!.at;
        expect(taken - renewed, `ms from the dead leader's last renewal to the new leader's lease (it expires at ${LEASE_TTL_MS})`).toBeLessThan(LEASE_TTL_MS);
        const live = [...nodes.keys()].filter((n) => n !== leader);
        const after = await view.settled(live, P);
        expect(after.epoch).toBeGreaterThan(before.epoch);
        expect(after.leader).toBe(newLeader);
        watch.stop();
        // a claim only changes hands when it was released or its holder was the dead node
        const holder = new Map<number, string | undefined>(before.owners.map((o, p) => [p, o]));
        for (const h of history) {
          const prev = holder.get(h.p);
          if (h.op === "PUT" && prev !== undefined && prev !== h.node) expect(prev, `partition ${h.p} taken from a live node`).toBe(leader);
          holder.set(h.p, h.node);
        }
        expect(history.some((h) => h.op === "PUT" && h.node !== leader)).toBe(true);
        // and consumption: a partition's chats are answered by its owners in the order they held it, never by
        // two nodes taking turns (one that kept consuming a partition it had lost, or took one it never claimed)
        const accepted = await traffic;
        await expectExactlyOnceInOrder(out, accepted, 100, 6);
        out.stop();
        for (let p = 0; p < P; p++) {
          const owners: string[] = [];
          for (const o of [before.owners[p], ...history.filter((h) => h.p === p && h.op === "PUT").map((h) => h.node)])
            if (o && owners.at(-1) !== o) owners.push(o);
          const answering: string[] = [];
          for (const r of out.replies) if (chatPartition(r, P) === p && answering.at(-1) !== r.node) answering.push(r.node ?? "?");
          // the answering nodes, run by run, are the owners in their order (a node may have had nothing to answer)
          let i = 0;
          for (const n of answering) while (i < owners.length && owners[i] !== n) i++;
          expect(i < owners.length || answering.length === 0, `partition ${p}: answered by ${answering.join(" → ")}, owned by ${owners.join(" → ")}`).toBe(
            true,
          );
        }
      } finally {
        await Promise.all([...nodes.values()].map((n) => n.kill("SIGKILL")));
      }
    },
    60_000,
  );

  it("rebalances under load when a node joins and another leaves gracefully, losing nothing", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const env = (id: string) => ({ env: { NATS_URL: nats.url, CLAW_NODE_ID: id } });
    const nodes: ClawProcess[] = [];
    try {
      const { view, assignment: three } = await threeNodes(nats.url, c, nodes);
      const out = await collectStreamReplies(c.js, c.jsm);
      let phase = 0;
      let four: typeof three | undefined;
      const accepted = await load(c, 150, 8, async (sent) => {
        if (phase === 0 && sent >= 300) {
          phase = 1;
          nodes.push(await startClaw(env("n4")));
          four = await view.settled(["n1", "n2", "n3", "n4"], P);
        } else if (phase === 1 && sent >= 800) {
          phase = 2;
          expect(await nodes[0]!.kill("SIGTERM")).toBe(0);
        }
      });
      await expectExactlyOnceInOrder(out, accepted, 150, 8);
      const moved = three.owners.filter((o, p) => o !== four!.owners[p]).length;
      console.log(`scale out 3 → 4 moved ${moved} of ${P} partitions (P/N = ${P / 4})`);
      expect(moved).toBe(four!.owners.filter((o) => o === "n4").length);
      expect(moved).toBeGreaterThan(P / 4 / 2);
      expect(moved).toBeLessThan((P / 4) * 2);
      await view.settled(["n2", "n3", "n4"], P);
      out.stop();
    } finally {
      await Promise.all(nodes.map((n) => n.kill("SIGKILL")));
    }
  }, 90_000);
});
