/**
 * Dead-lettering a stream message the data path gives up on, and telling its
 * sender: the message goes to `CLAW_DLQ` with the reason, and an error notice
 * (`kind: "error"`, `replyTo` = its id) to the chat it came from.
 */
import type { JsMsg } from "@nats-io/jetstream";
import {
  deadLetterOf,
  encode,
  ENVELOPE_VERSION,
  H,
  hopTraceparent,
  outboundSubject,
  publishDeadLetter,
  publishDurable,
  type Bus,
  type ChatAddress,
  type Envelope,
} from "../bus/index.js";
import { turnTraceparent } from "./turn.js";

/** Whom to tell, and as a reply to what. */
export interface Notify {
  to: ChatAddress;
  replyTo?: string;
  /** the notice's span */
  trace?: string;
  /** metadata the notice carries back to the channel (its native routing: {@link nativeRoutingOf}) */
  routing?: Record<string, unknown>;
  /**
   * the failure was transient (the provider down, a timeout) and the same
   * message may well succeed later; false (the default) when it will fail
   * again: the notice's `metadata.retryable`, which the HTTP gateway turns
   * into a status stock clients do or do not retry
   */
  retryable?: boolean;
  /** seconds until the same message may be let in (a quota's refusal): the notice's `metadata.retryAfterS` */
  retryAfterS?: number;
}

/** What else a dead letter records. */
export interface DeadLetterDetails {
  field?: string;
  msgId?: string;
  firstError?: string;
  deliveries?: number;
  notify?: Notify;
}

/** The span of the error notice a failed turn publishes: a child of the turn's span. */
export function noticeTrace(e: Envelope): string | undefined {
  const turn = turnTraceparent(e);
  return turn ? hopTraceparent(turn, e.id, "error") : undefined;
}

/** A notice to the sender that their message could not be processed. */
function errorNotice(
  to: ChatAddress,
  replyTo: string | undefined,
  id: string,
  text: string,
  code: string,
  retryable: boolean,
  traceparent?: string,
  routing: Record<string, unknown> = {},
): Envelope {
  return {
    v: ENVELOPE_VERSION,
    id,
    ts: Date.now(),
    channel: to.channel,
    account: to.account,
    chat: to.chat,
    sender: { id: "claw" },
    kind: "error",
    text,
    media: [],
    replyTo,
    metadata: { ...routing, code, retryable },
    trace: traceparent ? { traceparent } : {},
  };
}

/** Dead-letters `m` and notifies its sender when `details.notify` says whom. Idempotent per stream sequence. */
export async function deadLetterMessage(
  bus: Bus,
  nodeId: string,
  m: JsMsg,
  why: { stage: string; code: string; reason: string },
  details: DeadLetterDetails = {},
): Promise<void> {
  const { notify, ...extra } = details;
  await publishDeadLetter(bus.publisher, deadLetterOf(m, { ...why, node: nodeId, ...extra }));
  if (!notify) return;
  const id = `dlq:${m.info.stream}:${m.seq}:error`;
  const notice = errorNotice(
    notify.to,
    notify.replyTo,
    id,
    `Claw could not process this message: ${why.reason}`,
    why.code,
    notify.retryable ?? false,
    notify.trace,
    notify.retryAfterS === undefined ? notify.routing : { ...notify.routing, retryAfterS: notify.retryAfterS },
  );
  const headers: Record<string, string> = { [H.node]: nodeId };
  if (notice.trace.traceparent) headers[H.traceparent] = notice.trace.traceparent;
  await publishDurable(bus.publisher, { subject: outboundSubject(notice), data: encode(notice), msgId: id, headers });
}
