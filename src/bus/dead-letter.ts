/**
 * Dead letters: a message that cannot be processed goes to `claw.dlq.<stage>`
 * with its original bytes and headers that say why. Nothing is dropped.
 */
import type { JsMsg, PubAck } from "@nats-io/jetstream";
import type { JsPublish } from "./js-publisher.js";
import type { MsgHdrs } from "@nats-io/transport-node";
import { H } from "./headers.js";
import { publishDurable } from "./publisher.js";
import { dlqSubject } from "./subjects.js";

/** Why and where a message died. */
export interface DeadLetter {
  /** data-path stage: ingress, session, router, out, … */
  stage: string;
  /** stable reason code, e.g. `invalid_envelope`, `max_deliveries`, `permanent_error` */
  code: string;
  /** human-readable reason */
  reason: string;
  /** original subject */
  subject: string;
  /** original payload, byte for byte */
  data: Uint8Array;
  /** original headers (kept, so a replay is faithful) */
  headers?: MsgHdrs;
  /** stream and sequence of the original, used as the de-duplication id */
  stream: string;
  streamSeq: number;
  deliveries: number;
  node: string;
  field?: string;
  /** the envelope id, when known (kept on replay) */
  msgId?: string;
  firstError?: string;
  lastError?: string;
  /** the dead letter's own de-duplication id, where the original has no stream sequence (a native message an adapter took) */
  dedupeId?: string;
}

/**
 * The dead letter of a stream message: its subject, bytes, headers, stream
 * sequence and delivery count, with why it died.
 */
export function deadLetterOf(
  m: JsMsg,
  why: Pick<DeadLetter, "stage" | "code" | "reason" | "node"> & Partial<Pick<DeadLetter, "deliveries" | "field" | "msgId" | "firstError">>,
): DeadLetter {
  return {
    ...why,
    subject: m.subject,
    data: m.data,
    headers: m.headers,
    stream: m.info.stream,
    streamSeq: m.seq,
    deliveries: why.deliveries ?? m.info.deliveryCount,
    lastError: why.reason,
  };
}

const clip = (s: string) => (s.length > 1024 ? s.slice(0, 1021) + "..." : s).replace(/[\r\n]+/g, " ");

/** Publishes a dead letter. Idempotent per original stream sequence. */
export async function publishDeadLetter(js: JsPublish, d: DeadLetter): Promise<PubAck> {
  const headers: Record<string, string> = {};
  if (d.headers) {
    for (const k of d.headers.keys()) {
      // the original's msg id would collide with the dead letter's own
      if (k !== H.msgId) headers[k] = d.headers.get(k);
    }
  }
  Object.assign(headers, {
    [H.dlq.code]: d.code,
    [H.dlq.reason]: clip(d.reason),
    [H.dlq.stage]: d.stage,
    [H.dlq.subject]: d.subject,
    [H.dlq.deliveries]: String(d.deliveries),
    [H.dlq.node]: d.node,
    [H.dlq.time]: new Date().toISOString(),
    [H.dlq.streamSeq]: `${d.stream}:${d.streamSeq}`,
  });
  if (d.field) headers[H.dlq.field] = d.field;
  // MsgHdrs.get answers "" for a missing header
  const msgId = d.msgId || d.headers?.get(H.clawMsgId) || d.headers?.get(H.msgId);
  if (msgId) headers[H.clawMsgId] = msgId;
  if (d.firstError) headers[H.dlq.firstError] = clip(d.firstError);
  if (d.lastError) headers[H.dlq.lastError] = clip(d.lastError);
  return publishDurable(js, {
    subject: dlqSubject(d.stage),
    data: d.data,
    msgId: d.dedupeId ?? `dlq:${d.stream}:${d.streamSeq}`,
    headers,
  });
}
