/**
 * Rate limits shared by every node: token buckets kept in KV
 * `claw_ratelimit`, each taken from with compare-and-set (read the bucket,
 * refill it for the time passed, take a token, write it back only if nobody
 * wrote in between; otherwise read again). One credential or one client
 * address is limited the same whichever node it reaches.
 *
 * Limits are set in `CLAW_CONFIG` `rateLimits`: per credential (`key`), per
 * client address (`address`, counted before credentials are checked, so a
 * flood of bad keys is limited too), and per credential on the routes that
 * need a scope (`scopes`). A refused request gets 429 with `Retry-After`.
 * When the bucket cannot be read (NATS away) the request is let through:
 * the limiter must not take the gateway down with it.
 *
 * A node does not go to KV for every request: it takes tokens in small
 * batches (what the rate refills in 50 ms, at most a tenth of the burst; one
 * at a time for small limits) and spends them locally, one compare-and-set
 * in flight per bucket at a time. Tokens a node took and did not spend
 * within a second are dropped — a limit is never exceeded, only, briefly,
 * not reached.
 */
import { createHash } from "node:crypto";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { z } from "zod";

/** One limit: tokens added per second, and how many may be saved up. */
export const RateSchema = z.object({ perSecond: z.number().positive().max(1_000_000), burst: z.number().int().min(1).max(10_000_000) }).strict();
export type Rate = z.infer<typeof RateSchema>;

/** `CLAW_CONFIG` `rateLimits`. */
export const RateLimitsSchema = z
  .object({
    /** each credential, on every route but health */
    key: RateSchema.optional(),
    /** each client address, on every route but health */
    address: RateSchema.optional(),
    /** each credential, on the routes that need the scope (`agents:invoke`, `messages:write`, …) */
    scopes: z.record(z.string().regex(/^[a-z]+:[a-z]+$/, "a scope such as agents:invoke"), RateSchema).default({}),
  })
  .strict();
export type RateLimits = z.infer<typeof RateLimitsSchema>;

/** A token taken, or how long until one is there. */
export type Taken = { ok: true } | { ok: false; retryAfterS: number };

/** Takes tokens from shared buckets. */
export interface RateLimiter {
  take(bucket: string, rate: Rate): Promise<Taken>;
}

interface BucketState {
  /** tokens left */
  t: number;
  /** when they were counted (ms) */
  at: number;
}

const ATTEMPTS = 8;

/** A bucket's KV key: its kind and a hash of who it counts (addresses and ids never appear as such). */
export function bucketKey(kind: string, who: string): string {
  return `${kind}.${createHash("sha256").update(who).digest("hex").slice(0, 32)}`;
}

/** How many tokens a node takes from KV at once for `rate`. */
export function batchOf(rate: Rate): number {
  return Math.max(1, Math.min(Math.floor(rate.burst / 10), Math.ceil(rate.perSecond / 20)));
}

/** How long a node keeps tokens it took and has not spent. */
const RESERVE_MS = 1_000;

/** Token buckets in `kv`, shared by whoever uses the same bucket. */
export function kvRateLimiter(kv: KV, o: { onError?: (e: unknown) => void; now?: () => number } = {}): RateLimiter {
  const now = o.now ?? Date.now;
  const codec = new TextDecoder();
  /** tokens this node took and has not spent yet, per bucket */
  const reserves = new Map<string, { tokens: number; until: number }>();
  /** the compare-and-set in flight per bucket: later takes wait for it, then spend from the reserve */
  const inFlight = new Map<string, Promise<unknown>>();

  /** Takes up to `want` tokens (at least one) from the shared bucket: how many, or how long until one is there. */
  async function takeShared(bucket: string, rate: Rate, want: number): Promise<{ got: number } | { retryAfterS: number }> {
    for (let i = 0; i < ATTEMPTS; i++) {
      const entry = await kv.get(bucket);
      const t = now();
      const last: BucketState | undefined = entry && entry.operation === "PUT" ? (JSON.parse(codec.decode(entry.value)) as BucketState) : undefined;
      const tokens = last ? Math.min(rate.burst, last.t + ((t - last.at) / 1000) * rate.perSecond) : rate.burst;
      if (tokens < 1) return { retryAfterS: Math.max(1, Math.ceil((1 - tokens) / rate.perSecond)) };
      const got = Math.min(want, Math.floor(tokens));
      const next = JSON.stringify({ t: tokens - got, at: t } satisfies BucketState);
      try {
        if (entry) await kv.update(bucket, next, entry.revision);
        else await kv.create(bucket, next);
        return { got };
      } catch (e) {
        // another node wrote first: count again
        if (!isConflict(e)) throw e;
      }
    }
    // still contended after every attempt: let it through rather than stall
    return { got: 1 };
  }

  const spend = (bucket: string): boolean => {
    const r = reserves.get(bucket);
    if (!r || r.tokens < 1 || r.until < now()) return false;
    r.tokens--;
    return true;
  };

  return {
    async take(bucket, rate) {
      try {
        for (;;) {
          if (spend(bucket)) return { ok: true };
          const pending = inFlight.get(bucket);
          if (!pending) break;
          await pending.catch(() => undefined);
        }
        const taking = takeShared(bucket, rate, batchOf(rate));
        inFlight.set(bucket, taking);
        try {
          const r = await taking;
          if ("retryAfterS" in r) return { ok: false, retryAfterS: r.retryAfterS };
          // one for this request, the rest for the next ones here
          if (r.got > 1) reserves.set(bucket, { tokens: r.got - 1, until: now() + RESERVE_MS });
          else reserves.delete(bucket);
          if (reserves.size > 10_000) for (const [k, v] of reserves) if (v.until < now()) reserves.delete(k);
          return { ok: true };
        } finally {
          inFlight.delete(bucket);
        }
      } catch (e) {
        o.onError?.(e);
        return { ok: true };
      }
    },
  };
}

function isConflict(e: unknown): boolean {
  // the bucket's last sequence is not the one read: 10071 (10164 when the subject has none yet)
  return (
    e instanceof JetStreamApiError && (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}
