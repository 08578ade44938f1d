/**
 * A mailbox message a partition has taken, and what the parts handling it
 * share: where they publish, whom they tell, and the message's log fields.
 */
import type { JsMsg } from "@nats-io/jetstream";
import { H, sessionKey, traceIdOf, type Bus } from "../bus/index.js";
import type { Tracing } from "../observability/tracing.js";
import type { IngressDecision } from "./ingress.js";
import type { PartitionEvent } from "./partition-events.js";
import { sessionLogFields, type MessageLogFields } from "./session-requests.js";

/** A partition's two mailboxes: inbound (`claw.in.<p>.>`) and session mail (`claw.session.<p>.>`). */
export type PartitionStage = "in" | "session";

/** What the parts handling a partition's messages share. */
export interface PartitionScope {
  bus: Bus;
  nodeId: string;
  partition: number;
  tracing: Tracing;
  emit: (e: PartitionEvent) => void;
}

/** A message taken from a mailbox, with what its pickup found. */
export interface TakenMessage {
  m: JsMsg;
  stage: PartitionStage;
  /** deliveries so far, those that crashed a node included */
  attempts: number;
  log: MessageLogFields;
  /** ms from being stored in its stream to its pickup here */
  pickupMs: number;
  /** when it was taken (epoch ms; 0 without tracing) */
  startMs: number;
}

/** The dead-letter stage of a mailbox. */
export const deadLetterStage = (stage: PartitionStage) => (stage === "in" ? "ingress" : "session");

/** Log fields of a message: its envelope's when it has one, else the stream message's. */
export function messageLogFields(m: JsMsg, d: IngressDecision, stage: PartitionStage, p: number): MessageLogFields {
  if (d.kind === "turn") return sessionLogFields(sessionKey(d.agent.id, d.session), d.envelope, p);
  const actor = stage === "in" ? `ingress/p${p}` : `session-mailbox/p${p}`;
  if (d.kind === "forward") return { msg_id: d.envelope.id, trace_id: traceIdOf(d.envelope.trace.traceparent ?? ""), partition: p, actor };
  const tp = m.headers?.get(H.traceparent);
  return { msg_id: m.headers?.get(H.msgId) || `${m.info.stream}:${m.seq}`, trace_id: tp ? traceIdOf(tp) : undefined, partition: p, actor };
}
