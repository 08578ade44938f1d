/**
 * Checking a webhook delivery from a node: the signature is
 * `sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>` in
 * `Claw-Webhook-Signature`, the timestamp (seconds) in
 * `Claw-Webhook-Timestamp`, the delivery's id in `Claw-Webhook-Id` (the same
 * on every attempt of one delivery). The HMAC is `@noble/hashes` (audited, no
 * dependencies, synchronous): Web Crypto's is only asynchronous, and a check
 * that answered a Promise would pass every delivery in `if (verifyWebhook(…))`.
 * It runs in Node 20, Deno, edge workers and browsers; the digests are
 * compared in constant time.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";

/** Options of {@link verifyWebhook}. */
export interface VerifyWebhookOptions {
  /** the subscription's secret (`webhooks.create` answered it once) */
  secret: string;
  /** the request's headers: a fetch `Headers`, or Node's `req.headers` */
  headers: Headers | Record<string, string | string[] | undefined>;
  /** the body exactly as received (bytes or text): not re-serialized JSON */
  body: string | Uint8Array;
  /** how far the timestamp may be from now, in seconds (default 300) */
  toleranceS?: number;
  /** ids of deliveries already taken: a replayed id is refused, a new one added (keep them longer than the tolerance) */
  seen?: Set<string>;
  /** now, in seconds (default: the clock) */
  nowS?: number;
}

function header(h: VerifyWebhookOptions["headers"], name: string): string | undefined {
  if (typeof (h as Headers).get === "function") return (h as Headers).get(name) ?? undefined;
  const rec = h as Record<string, string | string[] | undefined>;
  const key = Object.keys(rec).find((k) => k.toLowerCase() === name);
  const v = key === undefined ? undefined : rec[key];
  return Array.isArray(v) ? v[0] : v;
}

function hexBytes(hex: string): Uint8Array | undefined {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Equal in time that does not depend on where they differ (both are 32 bytes here). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * True when the delivery is the node's: its signature matches the body and
 * timestamp, the timestamp is within `toleranceS` of now, and (given `seen`)
 * its id was not taken before. False for anything else, never throws for what
 * a sender controls.
 */
export function verifyWebhook(o: VerifyWebhookOptions): boolean {
  const id = header(o.headers, "claw-webhook-id");
  const tsText = header(o.headers, "claw-webhook-timestamp") ?? "";
  const signature = header(o.headers, "claw-webhook-signature") ?? "";
  const ts = Number(tsText);
  if (!id || !/^\d+$/.test(tsText) || !Number.isSafeInteger(ts)) return false;
  if (Math.abs((o.nowS ?? Date.now() / 1000) - ts) > (o.toleranceS ?? 300)) return false;
  const given = signature.startsWith("sha256=") ? hexBytes(signature.slice(7)) : undefined;
  if (!given || given.length !== 32) return false;
  const utf8 = new TextEncoder();
  const body = typeof o.body === "string" ? utf8.encode(o.body) : o.body;
  const signed = new Uint8Array(tsText.length + 1 + body.length);
  signed.set(utf8.encode(`${tsText}.`));
  signed.set(body, tsText.length + 1);
  if (!sameBytes(hmac(sha256, utf8.encode(o.secret), signed), given)) return false;
  if (o.seen) {
    if (o.seen.has(id)) return false;
    o.seen.add(id);
  }
  return true;
}
