/**
 * How much scrypt work callers without a proven credential may cause. A key's
 * secret is checked with scrypt (tens of ms on libuv's small threadpool, on
 * purpose); a caller who knows a key's id — ids are not secret — could make
 * every guess cost that, and a few dozen guesses in parallel starve the pool
 * that file reads and DNS lookups share. So, before hashing:
 * - each client address has a small bucket of failed checks (`perAddress`),
 *   refilled slowly; a caller past it is answered 429 without any hashing (a
 *   check that succeeds gives its token back);
 * - at most `concurrency` checks run at once, and at most `queue` wait: the
 *   rest are answered 503 at once. The pool keeps threads for everyone else.
 * A key that verified once is remembered (api-keys.ts) and never costs a
 * check again, so a legitimate client spends its bucket once per node.
 */

/** Limits of a {@link HashBudget}. */
export interface HashBudgetOptions {
  /** failed checks an address may cause: a burst, refilled at `perSecond` */
  perAddress: { burst: number; perSecond: number };
  /** checks running at once */
  concurrency: number;
  /** checks waiting for a slot; past this the check is refused */
  queue: number;
  /** addresses remembered (the oldest buckets are dropped past this) */
  maxAddresses: number;
  now?: () => number;
}

/** The defaults: 10 failed checks per address, then one every 2 s; 2 at once (of libuv's 4 threads), 32 waiting. */
export function defaultHashBudgetOptions(): HashBudgetOptions {
  return { perAddress: { burst: 10, perSecond: 0.5 }, concurrency: 2, queue: 32, maxAddresses: 10_000 };
}

/** A check refused before it ran: `throttled` (this address, 429) or `busy` (every slot taken, 503). */
export interface HashRefusal {
  refused: "throttled" | "busy";
  retryAfterS: number;
}

/** Runs expensive checks within the budget. */
export interface HashBudget {
  /** runs `check` (true: it passed) for a caller at `from`, or says why not */
  run(from: string, check: () => Promise<boolean>): Promise<{ ok: true; passed: boolean } | ({ ok: false } & HashRefusal)>;
}

/** Creates a budget (in memory: each node counts its own work). */
export function createHashBudget(o: HashBudgetOptions = defaultHashBudgetOptions()): HashBudget {
  const now = o.now ?? Date.now;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const waiting: Array<() => void> = [];
  let running = 0;

  function take(from: string): number | undefined {
    const t = now();
    const b = buckets.get(from);
    const tokens = b ? Math.min(o.perAddress.burst, b.tokens + ((t - b.at) / 1000) * o.perAddress.perSecond) : o.perAddress.burst;
    if (tokens < 1) return Math.max(1, Math.ceil((1 - tokens) / o.perAddress.perSecond));
    // re-inserted: the map's order is the order of last use, so the oldest go first
    buckets.delete(from);
    buckets.set(from, { tokens: tokens - 1, at: t });
    if (buckets.size > o.maxAddresses) buckets.delete(buckets.keys().next().value!);
    return undefined;
  }

  function giveBack(from: string): void {
    const b = buckets.get(from);
    if (b) b.tokens = Math.min(o.perAddress.burst, b.tokens + 1);
  }

  return {
    async run(from, check) {
      const retryAfterS = take(from);
      if (retryAfterS !== undefined) return { ok: false, refused: "throttled", retryAfterS };
      if (running >= o.concurrency) {
        if (waiting.length >= o.queue) return { ok: false, refused: "busy", retryAfterS: 1 };
        await new Promise<void>((r) => waiting.push(r));
      } else running++;
      try {
        const passed = await check();
        if (passed) giveBack(from);
        return { ok: true, passed };
      } finally {
        // the slot goes to the next in line, or is freed
        const next = waiting.shift();
        if (next) next();
        else running--;
      }
    },
  };
}
