/**
 * The `churn` scenario: 3 nodes on one nats-server under a steady load, one
 * of them SIGKILLed and started again every few seconds (node 1, 2, 3, 1, …).
 * Measures what users of the replies see — every reply once on `CLAW_OUT`,
 * what a plain core-NATS subscriber on `claw.out.>` sees (a redelivered turn
 * publishes its reply again; the stream drops the copy, a core subscriber
 * does not) — and where the slowest messages spent their time: how long
 * their partition had no live owner, how long its new owner waited for the
 * claim, and what came after.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { BUCKETS, chatPartition, decode, DEFAULT_PARTITIONS, type Envelope } from "../src/bus/index.js";
import { claimKey, type Claim } from "../src/supervisors/partition-claims.js";
import { runLoad, type LoadOptions, type LoadResult } from "./load-generator.js";
import { startClawTarget } from "./targets.js";

/** One SIGKILL and restart. */
interface ChurnEvent {
  node: string;
  killedAt: number;
  /** when the restarted process logged "claw node started" */
  startedAt?: number;
}

/** Where one slow message spent its time (ms). */
export interface SlowMessage {
  id: string;
  partition: number;
  latencyMs: number;
  /** owner of its partition when it was due, and whether that node was killed before answering it */
  ownerAtDue?: string;
  ownerKilled: boolean;
  /** due → the kill of its owner (or 0 if the owner was killed before it was due) */
  beforeKillMs?: number;
  /** the kill → the next claim of the partition by a live node */
  unownedMs?: number;
  /** that claim → the reply */
  afterClaimMs?: number;
  /** claims of its partition while it waited: `node@ms-after-due` */
  claims: string[];
}

/** What the scenario measured. */
export interface ChurnResult {
  load: LoadResult;
  kills: number;
  /** replies a core subscriber on `claw.out.bench.>` saw more than once (same reply id) */
  coreDuplicates: number;
  coreReceived: number;
  slow: SlowMessage[];
}

/** A partition's claims in time order, from the KV history of `claim.<p>`. */
async function claimHistory(kv: KV, p: number): Promise<Array<{ node: string; at: number }>> {
  const out: Array<{ node: string; at: number }> = [];
  const it = await kv.history({ key: claimKey(p) });
  for await (const e of it) if (e.operation === "PUT") out.push({ node: e.json<Claim>().node, at: e.created.getTime() });
  return out.sort((a, b) => a.at - b.at);
}

/** Counts replies per reply id as a core-NATS subscriber sees them. */
function coreSubscriber(nc: NatsConnection): { received: () => number; duplicates: () => number; stop(): void } {
  const seen = new Map<string, number>();
  let received = 0;
  const sub = nc.subscribe("claw.out.bench.>", {
    callback: (_e, m) => {
      received++;
      const id = decode<Envelope>(m.data).id;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    },
  });
  return {
    received: () => received,
    duplicates: () => [...seen.values()].filter((n) => n > 1).length,
    stop: () => sub.unsubscribe(),
  };
}

/** Explains one slow message from its partition's claims and the kills. */
function attribute(m: LoadResult["slowest"][number], claims: Array<{ node: string; at: number }>, kills: ChurnEvent[]): SlowMessage {
  const partition = chatPartition({ channel: "bench", account: "a", chat: m.chat }, DEFAULT_PARTITIONS);
  const answeredAt = m.dueAt + m.latencyMs;
  const owner = claims.filter((c) => c.at <= m.dueAt).at(-1)?.node;
  // the owner's kill that left this message waiting: the first after its last claim and before the answer
  const ownerClaimedAt = claims.filter((c) => c.at <= m.dueAt).at(-1)?.at ?? 0;
  const kill = kills.find((k) => k.node === owner && k.killedAt >= ownerClaimedAt && k.killedAt <= answeredAt);
  const next = kill ? claims.find((c) => c.at > kill.killedAt) : undefined;
  return {
    id: m.id,
    partition,
    latencyMs: m.latencyMs,
    ownerAtDue: owner,
    ownerKilled: kill !== undefined,
    beforeKillMs: kill ? Math.max(0, kill.killedAt - m.dueAt) : undefined,
    unownedMs: kill && next ? next.at - kill.killedAt : undefined,
    afterClaimMs: next ? answeredAt - Math.max(next.at, m.dueAt) : undefined,
    claims: claims.filter((c) => c.at > m.dueAt - 5_000 && c.at <= answeredAt).map((c) => `${c.node}@${c.at - m.dueAt}`),
  };
}

/** Runs the scenario. */
export async function runChurn(load: LoadOptions, everyS: number, env: Record<string, string>, o: { sameIds: boolean }): Promise<ChurnResult> {
  const target = await startClawTarget(3, env);
  const kills: ChurnEvent[] = [];
  const nc = await connect({ servers: target.nats.url });
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const core = coreSubscriber(nc);
    const events: NonNullable<LoadOptions["events"]> = [];
    // node ids now running in each slot: a restarted process gets a new id (as a node without
    // CLAW_NODE_ID does, or a replaced pod) unless --same-ids
    const ids = ["bench-1", "bench-2", "bench-3"];
    for (let k = 0, at = everyS; at < load.durationS - 1; k++, at += everyS) {
      const i = k % 3;
      events.push({
        atS: at,
        name: `SIGKILL and restart node ${i + 1} (${k + 1})`,
        run: async () => {
          const e: ChurnEvent = { node: ids[i]!, killedAt: Date.now() };
          kills.push(e);
          target.workers[i]!.kill("SIGKILL");
          if (!o.sameIds) ids[i] = `bench-${i + 1}-r${k + 1}`;
          await target.restart!(i, ids[i]);
          e.startedAt = Date.now();
        },
      });
    }
    const result = await runLoad(nc, js, jsm, { ...target, name: "claw×3 churn" }, { ...load, events });
    core.stop();
    const cluster = await new Kvm(js).open(BUCKETS.cluster);
    const slow: SlowMessage[] = [];
    for (const m of result.slowest) {
      const p = chatPartition({ channel: "bench", account: "a", chat: m.chat }, DEFAULT_PARTITIONS);
      slow.push(attribute(m, await claimHistory(cluster, p), kills));
    }
    return { load: result, kills: kills.length, coreDuplicates: core.duplicates(), coreReceived: core.received(), slow };
  } finally {
    await nc.close();
    await target.stop();
  }
}
