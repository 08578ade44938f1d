/**
 * Membership: every node heartbeats into KV `claw_members`; an entry not
 * renewed within the bucket's max age expires, and with it the member.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { hostname } from "node:os";
import { BUCKETS, decodeToken, delay, encodeToken, kvKeySubject, parseKvKeySubject, withRetry } from "../bus/index.js";
import type { ChildSpec } from "./supervisor.js";

/** What a member says about itself. */
export interface MemberInfo {
  node: string;
  version: string;
  pid: number;
  startedAt: number;
  /** partitions it runs now */
  partitions: number;
  /** live session actors */
  sessions: number;
  /** base URL of its HTTP gateway (`/metrics`, `/readyz`); absent until the gateway listens */
  http?: string;
  /** whether it serves now (what its `/readyz` says; absent from nodes before 0.2) */
  ready?: boolean;
  /** why not, while not ready */
  notReady?: string[];
  /** the skill runtimes it runs (`builtin`, `bubblewrap`, …): a skill runs only where its driver is */
  sandboxes?: string[];
  ts: number;
}

/**
 * The gateway's base URL as other hosts reach it: a wildcard listen address
 * (`0.0.0.0`, `::`) is replaced by this host's name.
 */
export function advertisedHttp(host: string, port: number): string {
  const name = host === "0.0.0.0" || host === "::" || host === "" ? hostname() : host;
  return `http://${name.includes(":") ? `[${name}]` : name}:${port}`;
}

const KEY_PREFIX = "m.";
const keyOf = (node: string) => KEY_PREFIX + encodeToken(node);

/** The heartbeat loop, as a supervised child. */
export function heartbeatChild(kv: KV, intervalMs: number, info: () => MemberInfo): ChildSpec {
  return {
    name: "membership",
    async run(signal) {
      while (!signal.aborted) {
        await withRetry(() => kv.put(keyOf(info().node), JSON.stringify(info())), { totalMs: intervalMs * 2 });
        await delay(intervalMs, signal);
      }
    },
  };
}

/**
 * One small JetStream write into the members bucket (key `probe.<node>`, not a
 * member): the bus health probe's proof that the store takes writes now.
 */
export function writeProbe(kv: KV, node: string): Promise<number> {
  return kv.put(`probe.${encodeToken(node)}`, String(Date.now()));
}

/** Leaves the cluster at once (graceful stop), instead of waiting for expiry. */
export async function leave(kv: KV, node: string): Promise<void> {
  await kv.delete(keyOf(node)).catch(() => undefined);
}

/**
 * Live members, by node id. The keys are read from the bucket's stream in
 * one request (its subjects), bounded by the API timeout: `kv.keys()` — an
 * ordered consumer that ends at its last pending message — was seen never
 * to end on this bucket, whose heartbeats keep arriving (a CLI `claw
 * cluster` still iterating after 15 minutes; a leader whose tick never
 * returned, so its lease lapsed).
 */
export async function liveMembers(kv: KV, jsm: JetStreamManager): Promise<Map<string, MemberInfo>> {
  const out = new Map<string, MemberInfo>();
  const info = await jsm.streams.info(`KV_${BUCKETS.members}`, { subjects_filter: kvKeySubject(BUCKETS.members, `${KEY_PREFIX}>`) });
  const names = Object.keys(info.state.subjects ?? {}).flatMap((s) => parseKvKeySubject(BUCKETS.members, s) ?? []);
  await Promise.all(
    names.map(async (k) => {
      const e = await kv.get(k);
      if (e && e.operation === "PUT") out.set(decodeToken(k.slice(KEY_PREFIX.length)), e.json<MemberInfo>());
    }),
  );
  return out;
}

/** True when `node` has a live heartbeat. */
export async function isAlive(kv: KV, node: string): Promise<boolean> {
  const e = await kv.get(keyOf(node));
  return !!e && e.operation === "PUT";
}

/** Who is alive, as the leader and the partition manager decide it. */
export interface Liveness {
  /** members with a live heartbeat that are not gone from the bus */
  members(): Promise<Map<string, MemberInfo>>;
  isAlive(node: string): Promise<boolean>;
}

/**
 * Liveness from the heartbeats in `claw_members`, sharpened by a presence
 * probe when one is given: a member whose heartbeat has not expired yet but
 * whom the bus says is gone (its process died) is dead now, not in a TTL.
 */
export function liveness(kv: KV, jsm: JetStreamManager, probe?: (node: string) => Promise<"present" | "gone" | "unknown">): Liveness {
  return {
    async members() {
      const live = await liveMembers(kv, jsm);
      if (!probe) return live;
      const gone = await Promise.all([...live.keys()].map(async (n) => ((await probe(n)) === "gone" ? n : undefined)));
      for (const n of gone) if (n !== undefined) live.delete(n);
      return live;
    },
    async isAlive(node) {
      return (await isAlive(kv, node)) && (!probe || (await probe(node)) !== "gone");
    },
  };
}
