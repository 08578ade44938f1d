/**
 * The tenants' quotas where a turn is to run (the partition that holds its
 * session), whichever way its message came — a channel, the bus, the gateway:
 *
 * - `tokensPerDay`: past it, the turn is refused (`quota_exceeded`) until
 *   the next UTC midnight; today's tokens are read at most a second old.
 * - `sessions`: a session not yet counted, past it, is refused; the
 *   sessions counted keep working (session-count.ts).
 * - `messagesPerMinute`: a message that came from the bus (the gateway
 *   counted its own at the door) takes a token from the tenant's bucket in
 *   the shared KV `claw_ratelimit`, the same bucket as the gateway's, and
 *   waits for one when there is none — it is not dropped.
 * - `concurrentTurns`: counted on each node, each node allowing its share
 *   (the limit divided by the live nodes, rounded down, at least 1); a turn
 *   past it waits until one of its tenant's turns on the node ends.
 *
 * A turn that waits, waits in its tenant's line on the node (first come,
 * first let in), so one tenant's waiting turns hold none of another's.
 */
import { delay } from "../bus/index.js";
import type { QuotaName, Quotas } from "./tenant.js";
import type { SessionCount } from "./session-count.js";
import { secondsToNextDay } from "./usage.js";

/** A turn asked about (the shape of the actors' TurnAdmissionRequest). */
export interface QuotaTurn {
  agent: string;
  session: string;
  /** the gateway counted its message against `messagesPerMinute` already */
  counted: boolean;
  signal: AbortSignal;
}

/** What the quotas say (the shape of the actors' TurnAdmitted). */
export type QuotaAnswer =
  { kind: "go"; release: () => void } | { kind: "refused"; code: "quota_exceeded"; message: string; retryAfterS?: number } | { kind: "released" };

/** Options of {@link turnQuotas}. */
export interface TurnQuotasOptions {
  /** the tenant of an agent's stored id (undefined: the operator's) */
  tenantOf(agent: string): string | undefined;
  /** a tenant's quotas now (undefined: not a tenant any more, no limit) */
  quotas(tenant: string): Quotas | undefined;
  /** today's prompt + completion tokens of a tenant */
  tokensToday(tenant: string): Promise<number>;
  /** takes a token from the tenant's shared message bucket (`perMinute` a minute) */
  takeMessage(tenant: string, perMinute: number): Promise<{ ok: true } | { ok: false; retryAfterS: number }>;
  sessions?: SessionCount;
  /** the live nodes now: each allows its share of `concurrentTurns` */
  nodes(): number;
  onRefused?(tenant: string, quota: QuotaName): void;
  /** a turn started waiting for `quota` */
  onWaiting?(tenant: string, quota: QuotaName): void;
  now?: () => number;
}

/** The quotas' answers to turns. */
export interface TurnQuotas {
  admit(t: QuotaTurn): Promise<QuotaAnswer>;
  /** turns of `tenant` running on this node */
  running(tenant: string): number;
  /** turns of `tenant` waiting on this node */
  waiting(tenant: string): number;
}

/** How long a turn waiting for a turn slot looks again at the limit (it may have been raised, or nodes joined). */
const RECHECK_MS = 1_000;

const NO_LIMIT = { kind: "go", release: () => {} } as const;

/** One tenant's line on this node. */
interface Line {
  tail: Promise<unknown>;
  running: number;
  waiting: number;
  /** wakes the turn at the head when a turn ends */
  wake?: () => void;
}

/** The quotas of every tenant, as one node applies them. */
export function turnQuotas(o: TurnQuotasOptions): TurnQuotas {
  const now = o.now ?? Date.now;
  const lines = new Map<string, Line>();
  const lineOf = (tenant: string): Line => {
    let l = lines.get(tenant);
    if (!l) lines.set(tenant, (l = { tail: Promise.resolve(), running: 0, waiting: 0 }));
    return l;
  };
  const share = (limit: number) => Math.max(1, Math.floor(limit / Math.max(1, o.nodes())));

  /** the head of the line: a message token (unless counted), then a turn slot */
  async function pass(tenant: string, l: Line, t: QuotaTurn): Promise<QuotaAnswer> {
    let waited = false;
    if (!t.counted) {
      for (;;) {
        if (t.signal.aborted) return { kind: "released" };
        const perMinute = o.quotas(tenant)?.messagesPerMinute;
        if (perMinute === undefined) break;
        // the buckets cannot be read (NATS away): let it through, as the gateway does
        const taken = await o.takeMessage(tenant, perMinute).catch(() => ({ ok: true }) as const);
        if (taken.ok) break;
        if (!waited) o.onWaiting?.(tenant, "messagesPerMinute");
        waited = true;
        await delay(Math.max(100, taken.retryAfterS * 1_000), t.signal);
      }
    }
    let told = false;
    for (;;) {
      if (t.signal.aborted) return { kind: "released" };
      const limit = o.quotas(tenant)?.concurrentTurns;
      if (limit === undefined || l.running < share(limit)) break;
      if (!told) o.onWaiting?.(tenant, "concurrentTurns");
      told = true;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, RECHECK_MS);
        function done() {
          clearTimeout(timer);
          t.signal.removeEventListener("abort", done);
          if (l.wake === done) l.wake = undefined;
          resolve();
        }
        l.wake = done;
        t.signal.addEventListener("abort", done, { once: true });
      });
    }
    l.running++;
    let released = false;
    return {
      kind: "go",
      release: () => {
        if (released) return;
        released = true;
        l.running--;
        l.wake?.();
      },
    };
  }

  return {
    async admit(t) {
      const tenant = o.tenantOf(t.agent);
      if (tenant === undefined) return NO_LIMIT;
      const q = o.quotas(tenant);
      if (!q) return NO_LIMIT;
      const refuse = (quota: QuotaName, message: string, retryAfterS?: number): QuotaAnswer => {
        o.onRefused?.(tenant, quota);
        return { kind: "refused", code: "quota_exceeded", message, retryAfterS };
      };
      if (q.tokensPerDay !== undefined) {
        // the counters cannot be read (NATS away): let it through, as the gateway does
        const used = await o.tokensToday(tenant).catch(() => 0);
        if (used >= q.tokensPerDay) {
          const retry = secondsToNextDay(now());
          return refuse("tokensPerDay", `the tenant ${tenant} has used its ${q.tokensPerDay} tokens of today (UTC); retry in ${retry} s`, retry);
        }
      }
      if (q.sessions !== undefined && o.sessions) {
        const ok = await o.sessions.admit(tenant, t.agent, t.session, q.sessions).catch(() => true);
        if (!ok) return refuse("sessions", `the tenant ${tenant} holds its ${q.sessions} sessions: no new one is started`, 60);
      }
      if ((t.counted || q.messagesPerMinute === undefined) && q.concurrentTurns === undefined) return NO_LIMIT;
      const l = lineOf(tenant);
      l.waiting++;
      const mine = l.tail.then(() => pass(tenant, l, t));
      l.tail = mine.catch(() => undefined);
      try {
        return await mine;
      } finally {
        l.waiting--;
      }
    },
    running: (tenant) => lines.get(tenant)?.running ?? 0,
    waiting: (tenant) => lines.get(tenant)?.waiting ?? 0,
  };
}
