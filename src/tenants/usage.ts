/**
 * Usage metering, shared by every node: counters per UTC day, tenant and
 * agent in KV `claw_usage` (`a.<day>.<tenant>.<agent>`), and a total per day
 * and tenant (`t.<day>.<tenant>`) that `tokensPerDay` is checked against.
 * Each counter is updated with compare-and-set (read, add, write back only if
 * nobody wrote in between; otherwise read again), so two nodes never lose
 * each other's counts. The operator's agents (no tenant) are counted under
 * `_`, which no tenant id can be.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { decodeToken, encodeToken, withRetry } from "../bus/index.js";

/** What one day of one tenant's agent used. */
export interface UsageCounts {
  /** model calls (a turn with tool rounds makes several) */
  calls: number;
  promptTokens: number;
  completionTokens: number;
  /** turns answered */
  turns: number;
  /** skill invocations its turns made (run to an end, ok or not) */
  skillInvocations: number;
  /** how long those ran, in ms */
  skillMs: number;
  /** user messages that came for it (refused ones too) */
  messagesIn: number;
  /** what it sent to chats: its replies, and the error notices of its failed or refused turns */
  messagesOut: number;
}

/** The activity counted besides model calls (batched on each node: {@link UsageMeter.count}). */
export type UsageActivity = Partial<Pick<UsageCounts, "turns" | "skillInvocations" | "skillMs" | "messagesIn" | "messagesOut">>;

/** One row of a usage report. */
export interface UsageRow extends UsageCounts {
  /** `YYYY-MM-DD` (UTC) */
  day: string;
  /** undefined: the operator's agents */
  tenant?: string;
  /** the agent's stored id (`<tenant>/<agent>` for a tenant's) */
  agent: string;
}

/** The tenant token of the operator's agents. */
const OPERATOR = "_";
const ATTEMPTS = 16;
const FIELDS = ["calls", "promptTokens", "completionTokens", "turns", "skillInvocations", "skillMs", "messagesIn", "messagesOut"] as const;
const zero = (): UsageCounts => ({ calls: 0, promptTokens: 0, completionTokens: 0, turns: 0, skillInvocations: 0, skillMs: 0, messagesIn: 0, messagesOut: 0 });
const sum = (a: UsageCounts, b: UsageCounts): UsageCounts => {
  const out = zero();
  for (const f of FIELDS) out[f] = a[f] + b[f];
  return out;
};
/** How often a node writes the activity it counted (a turn never waits for it). */
const FLUSH_MS = 1_000;

/** The UTC day of `ms`, `YYYY-MM-DD`. */
export const dayOf = (ms: number): string => {
  // asked several times per message: the day is formatted once and kept while `ms` stays within it
  if (ms >= today.from && ms < today.to) return today.day;
  const day = new Date(ms).toISOString().slice(0, 10);
  const from = Date.parse(`${day}T00:00:00Z`);
  today = { day, from, to: from + 86_400_000 };
  return day;
};
let today = { day: "", from: 0, to: 0 };

/** Seconds from `ms` until the next UTC midnight (at least 1). */
export const secondsToNextDay = (ms: number): number => Math.max(1, Math.ceil((Date.parse(`${dayOf(ms)}T00:00:00Z`) + 86_400_000 - ms) / 1000));

/** Counting and reading usage. */
export interface UsageMeter {
  /** adds a model call of `agent` (its tenant is its id's) with the tokens the provider reported */
  record(o: { agent: string; tenant?: string; promptTokens: number; completionTokens: number; at?: number }): Promise<void>;
  /** counts activity of `agent` (turns, skills, messages): kept on the node and written within a second, in one update per row */
  count(o: { agent: string; tenant?: string; at?: number } & UsageActivity): void;
  /** writes what {@link count} has kept so far */
  flush(): Promise<void>;
  /** prompt + completion tokens of `tenant` today (UTC); read at most once a second per tenant on a node */
  tokensToday(tenant: string): Promise<number>;
  /** the rows of days `from` to `to` (`YYYY-MM-DD`, inclusive), of one tenant and/or agent when given */
  report(q: { from: string; to: string; tenant?: string; agent?: string }): Promise<UsageRow[]>;
}

function decodeCounts(v: Uint8Array | undefined): UsageCounts {
  const out = zero();
  if (!v) return out;
  try {
    const c = JSON.parse(new TextDecoder().decode(v)) as Partial<UsageCounts>;
    for (const f of FIELDS) out[f] = Number(c[f]) || 0;
  } catch {
    // an unreadable counter counts from zero
  }
  return out;
}

/** True when a compare-and-set lost to another writer: 10071 (10164 when the key had no entry yet). */
export function isWrongLastSequence(e: unknown): boolean {
  return (
    e instanceof JetStreamApiError && (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** The usage meter over `kv` (the `claw_usage` bucket). */
export function usageMeter(kv: KV, o: { now?: () => number; onError?: (e: unknown) => void } = {}): UsageMeter {
  const now = o.now ?? Date.now;
  const cached = new Map<string, { at: number; tokens: number }>();
  let kept = new Map<string, UsageCounts>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();

  /** adds `d` to the counter at `key`, with compare-and-set */
  async function add(key: string, d: UsageCounts): Promise<void> {
    for (let i = 0; i < ATTEMPTS; i++) {
      const e = await withRetry(() => kv.get(key));
      const next = JSON.stringify(sum(decodeCounts(e?.operation === "PUT" ? e.value : undefined), d));
      try {
        if (e) await kv.update(key, next, e.revision);
        else await kv.create(key, next);
        return;
      } catch (err) {
        // another node counted first: count again (anything else is NATS's to report)
        if (!isWrongLastSequence(err)) throw err;
      }
    }
    throw new Error(`usage counter ${key}: still contended after ${ATTEMPTS} attempts`);
  }

  const meter: UsageMeter = {
    async record(r) {
      const day = dayOf(r.at ?? now());
      const tenant = encodeToken(r.tenant ?? OPERATOR);
      const d = { ...zero(), calls: 1, promptTokens: r.promptTokens, completionTokens: r.completionTokens };
      await add(`a.${day}.${tenant}.${encodeToken(r.agent)}`, d);
      await add(`t.${day}.${tenant}`, d);
    },
    count(r) {
      const key = `a.${dayOf(r.at ?? now())}.${encodeToken(r.tenant ?? OPERATOR)}.${encodeToken(r.agent)}`;
      const d = kept.get(key) ?? zero();
      for (const f of ["turns", "skillInvocations", "skillMs", "messagesIn", "messagesOut"] as const) d[f] += Math.max(0, Number(r[f]) || 0);
      kept.set(key, d);
      timer ??= setTimeout(() => {
        timer = undefined;
        void meter.flush();
      }, FLUSH_MS);
      timer.unref?.();
    },
    flush() {
      const batch = kept;
      kept = new Map();
      // one flush at a time: a row's updates do not race each other
      flushing = flushing.then(async () => {
        for (const [key, d] of batch) await add(key, d).catch((e: unknown) => o.onError?.(e));
      });
      return flushing;
    },
    async tokensToday(tenant) {
      const t = now();
      const c = cached.get(tenant);
      if (c && t - c.at < 1_000) return c.tokens;
      const e = await withRetry(() => kv.get(`t.${dayOf(t)}.${encodeToken(tenant)}`));
      const counts = decodeCounts(e?.operation === "PUT" ? e.value : undefined);
      const tokens = counts.promptTokens + counts.completionTokens;
      cached.set(tenant, { at: t, tokens });
      return tokens;
    },
    async report(q) {
      const rows: UsageRow[] = [];
      const tenant = q.tenant === undefined ? "*" : encodeToken(q.tenant);
      for await (const key of await withRetry(() => kv.keys(`a.*.${tenant}.*`))) {
        const [, day, t, agent] = key.split(".");
        if (!day || !t || !agent || day < q.from || day > q.to) continue;
        const id = decodeToken(agent);
        if (q.agent !== undefined && id !== q.agent) continue;
        const e = await withRetry(() => kv.get(key));
        if (e?.operation !== "PUT") continue;
        const tenantId = decodeToken(t);
        rows.push({ day, ...(tenantId === OPERATOR ? {} : { tenant: tenantId }), agent: id, ...decodeCounts(e.value) });
      }
      return rows.sort((a, b) => a.day.localeCompare(b.day) || (a.tenant ?? "").localeCompare(b.tenant ?? "") || a.agent.localeCompare(b.agent));
    },
  };
  return meter;
}
