/**
 * How a delivery is signed, and how a receiver checks it: the signature is
 * `HMAC-SHA256(secret, "<timestamp>.<body>")` in hex, sent as
 * `Claw-Webhook-Signature: sha256=<hex>` with `Claw-Webhook-Timestamp`
 * (seconds since the epoch) and `Claw-Webhook-Id` (the same on every attempt
 * of one delivery: a receiver remembers the ids it took, and refuses a
 * replay).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const WEBHOOK_HEADERS = {
  id: "claw-webhook-id",
  timestamp: "claw-webhook-timestamp",
  signature: "claw-webhook-signature",
  event: "claw-webhook-event",
} as const;

/** The signature of `body` sent at `timestamp` (seconds). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/**
 * A receiver's check (docs/security.md, "Webhooks out", shows it): the signature matches, the
 * timestamp is within `toleranceS` of now (5 minutes), and the id was not
 * taken before (`seen` remembers ids for longer than the tolerance).
 */
export function verifyWebhook(o: {
  secret: string;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  seen: Set<string>;
  toleranceS?: number;
  nowS?: number;
}): { ok: true; id: string } | { ok: false; why: string } {
  const h = (k: string) => {
    const v = o.headers[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const id = h(WEBHOOK_HEADERS.id);
  const ts = Number(h(WEBHOOK_HEADERS.timestamp));
  const signature = h(WEBHOOK_HEADERS.signature) ?? "";
  if (!id || !Number.isFinite(ts)) return { ok: false, why: "missing id or timestamp" };
  if (Math.abs((o.nowS ?? Date.now() / 1000) - ts) > (o.toleranceS ?? 300)) return { ok: false, why: "timestamp outside the window" };
  const expected = Buffer.from(signWebhook(o.secret, ts, o.body));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, why: "bad signature" };
  if (o.seen.has(id)) return { ok: false, why: "replayed" };
  o.seen.add(id);
  return { ok: true, id };
}
