/**
 * Durable publishing: a JetStream publish that retries transient failures with
 * backoff, always with a `Nats-Msg-Id` so a retry can never duplicate.
 */
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import type { PubAck } from "@nats-io/jetstream";
import type { JsPublish } from "./js-publisher.js";
import { PublishError } from "./errors.js";
import { withRetry, type RetryOptions } from "./retry.js";

/** What to publish. */
export interface DurablePublish {
  subject: string;
  data: Uint8Array;
  /** JetStream de-duplication id; derive it from the causing message id */
  msgId: string;
  headers?: Record<string, string>;
}

/** Builds NATS headers from a plain record. */
export function toHeaders(h: Record<string, string> | undefined): MsgHdrs {
  const out = natsHeaders();
  if (h) for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

/** Reads NATS headers into a plain record (first value of each). */
export function fromHeaders(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}

/**
 * Publishes and waits for the stream's ack, retrying timeouts and 503s
 * (ENVIRONMENT.md: 2–4 s, once 18 s, while a stream leader is elected).
 * Throws {@link PublishError} when the server refuses or time runs out.
 */
export async function publishDurable(js: JsPublish, p: DurablePublish, retry: RetryOptions = {}): Promise<PubAck> {
  const headers = toHeaders(p.headers);
  try {
    return await withRetry(() => js.publish(p.subject, p.data, { msgID: p.msgId, headers }), {
      totalMs: 30_000,
      ...retry,
    });
  } catch (e) {
    throw new PublishError(p.subject, (e as Error).message, { cause: e });
  }
}
