/**
 * The leader lease: a key in KV `claw_lease` taken with `create`
 * (compare-and-set) and renewed with `update(revision)`. The bucket's max age
 * frees it when the leader stops renewing. A leader acts only while its lease
 * is surely valid by its own clock.
 */
import type { KV } from "@nats-io/kv";
import { delay } from "../bus/index.js";
import type { ChildSpec } from "./supervisor.js";

const KEY = "leader";

/** Callbacks of the lease loop. */
export interface LeaseHooks {
  /** became leader (lease taken) */
  elected(): Promise<void> | void;
  /** lost the lease (not renewed in time, or another node holds it) */
  deposed(): Promise<void> | void;
  /** runs every interval while leading */
  tick(): Promise<void>;
}

/** State of this node's lease. */
export interface LeaseState {
  readonly leading: boolean;
  /** true while leading and the lease cannot have expired yet */
  valid(): boolean;
}

/** The lease loop as a supervised child, and a view of its state. */
export function leaseChild(
  kv: KV,
  node: string,
  ttlMs: number,
  hooks: LeaseHooks,
  /** whether a holder is still alive; a dead holder's lease is taken at once instead of after its TTL */
  isAlive?: (node: string) => Promise<boolean>,
  /** the lease's key: the leader's by default; other one-holder duties (a channel account) have their own */
  key = KEY,
): { child: ChildSpec; state: LeaseState; resign(): Promise<void> } {
  let revision = 0;
  let leading = false;
  let validUntil = 0;
  const interval = Math.max(100, Math.floor(ttlMs / 3));
  // renewals are sent every ttl/3; acting stops well before the server could expire the key
  const margin = Math.floor(ttlMs / 3);

  const lose = async () => {
    if (!leading) return;
    leading = false;
    validUntil = 0;
    await hooks.deposed();
  };

  /**
   * Takes the free lease — or our own, still unexpired (after NATS was away
   * this node stopped acting as leader, but the key still names it and nobody
   * else can take it before it expires), or a dead leader's (its process is
   * gone from the bus: it can renew nothing). The update names the revision
   * read, so of several takers one wins; either way it spares the cluster a
   * leaderless TTL.
   */
  const take = async (): Promise<number> => {
    try {
      return await kv.create(key, node);
    } catch (e) {
      const held = await kv.get(key);
      if (held?.operation !== "PUT") throw e;
      const holder = held.string();
      if (holder === node || (isAlive && !(await isAlive(holder)))) return kv.update(key, node, held.revision);
      throw e;
    }
  };

  const child: ChildSpec = {
    name: key === KEY ? "lease" : `lease ${key}`,
    async run(signal) {
      try {
        while (!signal.aborted) {
          const started = Date.now();
          try {
            revision = leading ? await kv.update(key, node, revision) : await take();
            validUntil = started + ttlMs - margin;
            if (!leading) {
              leading = true;
              await hooks.elected();
            }
          } catch {
            // someone else holds it, or we could not renew: not leading (any more)
            await lose();
          }
          if (leading && Date.now() < validUntil) await hooks.tick();
          await delay(interval, signal);
        }
      } finally {
        await lose();
      }
    },
  };
  return {
    child,
    state: {
      get leading() {
        return leading;
      },
      valid: () => leading && Date.now() < validUntil,
    },
    async resign() {
      const was = leading;
      await lose();
      // hand over at once instead of waiting for the key to expire
      if (was) await kv.delete(key, { previousSeq: revision }).catch(() => undefined);
    },
  };
}

/** The current leader's node id, if any. */
export async function currentLeader(kv: KV): Promise<string | undefined> {
  const e = await kv.get(KEY);
  return e && e.operation === "PUT" ? e.string() : undefined;
}
