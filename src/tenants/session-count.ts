/**
 * How many sessions each tenant holds, counted once per session for the
 * whole cluster in KV `claw_usage`: a marker per session
 * (`s.<tenant>.<hash of its key>`) and a count per tenant (`n.<tenant>`),
 * both written with compare-and-set. A session is counted on its first turn
 * (one whose snapshot exists already, from before the quota, is counted
 * then, without being refused); a new one past the tenant's `sessions` is
 * not let in. Claw does not delete sessions, so the count only grows.
 * A node remembers the sessions it has seen counted, so a session's later
 * turns read nothing.
 */
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { encodeToken, sessionKey, withRetry } from "../bus/index.js";
import { isWrongLastSequence } from "./usage.js";

/** Counting a tenant's sessions. */
export interface SessionCount {
  /** true when the session may run: it is counted already, or it is counted now within `limit` */
  admit(tenant: string, agent: string, session: string, limit: number): Promise<boolean>;
  /** the sessions `tenant` holds */
  count(tenant: string): Promise<number>;
}

const ATTEMPTS = 16;
/** sessions a node remembers as counted (forgotten all at once past it: they are read again) */
const REMEMBERED = 100_000;

/** The session count over `usage` (the `claw_usage` bucket) and `sessions` (`claw_sessions`, to tell a session from before the quota). */
export function sessionCount(usage: KV, sessions: KV): SessionCount {
  const seen = new Set<string>();
  const countKey = (tenant: string) => `n.${encodeToken(tenant)}`;
  const read = async (tenant: string) => {
    const e = await withRetry(() => usage.get(countKey(tenant)));
    const n = e?.operation === "PUT" ? Number(new TextDecoder().decode(e.value)) : 0;
    return { n: Number.isSafeInteger(n) && n > 0 ? n : 0, revision: e?.revision };
  };
  /** adds `d` to the tenant's count; with `limit`, only while the count is below it (false: it is not) */
  async function add(tenant: string, d: number, limit?: number): Promise<boolean> {
    for (let i = 0; i < ATTEMPTS; i++) {
      const { n, revision } = await read(tenant);
      if (limit !== undefined && n >= limit) return false;
      const next = String(Math.max(0, n + d));
      try {
        if (revision !== undefined) await usage.update(countKey(tenant), next, revision);
        else await usage.create(countKey(tenant), next);
        return true;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
      }
    }
    throw new Error(`session count of ${tenant}: still contended after ${ATTEMPTS} attempts`);
  }
  /** writes the session's marker: false when it was there already (someone counted it) */
  async function mark(marker: string): Promise<boolean> {
    try {
      await usage.create(marker, "1");
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) return false;
      throw err;
    }
  }
  const remember = (key: string) => {
    if (seen.size >= REMEMBERED) seen.clear();
    seen.add(key);
  };
  return {
    async admit(tenant, agent, session, limit) {
      const key = sessionKey(agent, session);
      if (seen.has(key)) return true;
      const marker = `s.${encodeToken(tenant)}.${createHash("sha256").update(key).digest("hex").slice(0, 32)}`;
      const had = await withRetry(() => usage.get(marker));
      if (had?.operation === "PUT") {
        remember(key);
        return true;
      }
      const stored = await withRetry(() => sessions.get(key));
      if (stored?.operation === "PUT") {
        // a session from before the quota (or before counting): it keeps working, and counts from now on
        if (await mark(marker)) await add(tenant, 1);
        remember(key);
        return true;
      }
      if (!(await add(tenant, 1, limit))) return false;
      // counted twice at once (a handover): the other count stands
      if (!(await mark(marker))) await add(tenant, -1);
      remember(key);
      return true;
    },
    async count(tenant) {
      return (await read(tenant)).n;
    },
  };
}
