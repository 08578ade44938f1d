/**
 * What a partition dead-letters, and whom each dead letter tells: a message
 * ingress rejects, one delivered so often that it probably crashes its node,
 * and a turn that failed for good. Each goes to `CLAW_DLQ` with its reason,
 * is reported as `message.dead`, and (where its chat is known) answered with
 * an error notice. The caller acks the message once this resolves.
 */
import type { JsMsg } from "@nats-io/jetstream";
import { H, nativeRoutingOf, parseInboundSubject } from "../bus/index.js";
import type { IngressDecision } from "./ingress.js";
import { deadLetterMessage, noticeTrace, type DeadLetterDetails } from "./message-dead-letter.js";
import { deadLetterStage, type PartitionScope, type TakenMessage } from "./partition-message.js";
import type { FailedTurn } from "./session-requests.js";

async function deadLetter(scope: PartitionScope, t: TakenMessage, stage: string, code: string, reason: string, details: DeadLetterDetails): Promise<void> {
  await deadLetterMessage(scope.bus, scope.nodeId, t.m, { stage, code, reason }, details);
  scope.emit({ type: "message.dead", stage, code, reason, subject: t.m.subject, ...t.log, partition: scope.partition });
}

/** A message ingress rejected (undecodable, unroutable, …): the notice goes to the chat its subject names. */
export function deadLetterRejected(scope: PartitionScope, t: TakenMessage, d: Extract<IngressDecision, { kind: "dead" }>): Promise<void> {
  const addr = t.stage === "in" ? parseInboundSubject(t.m.subject) : undefined;
  return deadLetter(scope, t, deadLetterStage(t.stage), d.code, d.reason, {
    field: d.field,
    ...(d.replyTo ? { msgId: d.replyTo } : {}),
    notify: addr ? { to: addr, replyTo: d.replyTo ?? (t.m.headers?.get(H.msgId) || undefined) } : undefined,
  });
}

/** A message delivered this often without being settled: it probably crashes its node. */
export function deadLetterUnsettled(scope: PartitionScope, t: TakenMessage, d: Extract<IngressDecision, { kind: "turn" | "forward" }>): Promise<void> {
  const deliveries = t.attempts - 1;
  return deadLetter(scope, t, deadLetterStage(t.stage), "max_deliveries", `not settled after ${deliveries} deliveries (the node processing it died)`, {
    deliveries,
    msgId: d.envelope.id,
    notify: { to: d.envelope, replyTo: d.envelope.id, routing: nativeRoutingOf(d.envelope) },
  });
}

/**
 * A turn that failed for good (its attempts spent, or refused): the notice says whether trying again may help, and
 * (`retryAfterS`, a quota's refusal) when
 */
export function deadLetterFailedTurn(scope: PartitionScope, t: TakenMessage, f: FailedTurn, retryAfterS?: number): Promise<void> {
  return deadLetter(scope, t, "session", f.failure.code, f.failure.message, {
    msgId: f.turn.id,
    firstError: f.firstError,
    deliveries: f.attempts,
    // the notice is published by the failed turn: a child of its span
    notify: { to: f.turn, replyTo: f.turn.id, trace: noticeTrace(f.turn), routing: nativeRoutingOf(f.turn), retryable: f.failure.transient, retryAfterS },
  });
}
