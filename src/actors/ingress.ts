/**
 * Ingress: the first stage a partition owner runs on an inbound message.
 * Decodes and validates it, resolves the agent and session, and decides where
 * it goes. Pure: no I/O, so every decision is unit-tested.
 */
import {
  chatPartition,
  completeInbound,
  decode,
  decodeInbound,
  EnvelopeError,
  H,
  keyPartition,
  hopTraceparent,
  parseEnvelope,
  parseInboundSubject,
  parseSessionSubject,
  PROBE_CHANNEL,
  sessionKey,
  sessionSubject,
  MAIL,
  SessionMailSchema,
  type Envelope,
  type SessionMail,
} from "../bus/index.js";
import { ZodError } from "zod";
import type { AgentSpec } from "./agents.js";
import { resolveAgent } from "./agent-routing.js";
import { sessionIdFor } from "./session-id.js";

/** What ingress needs to know of a message. */
export interface InboundMessage {
  subject: string;
  data: Uint8Array;
  /** header lookup, case-insensitive */
  header: (name: string) => string | undefined;
  /** stream sequence and a per-stream-incarnation prefix: the default message id */
  seq: number;
  idPrefix: string;
  /** when the stream stored it (ms) */
  storedAt: number;
}

/** Where a message goes. */
export type IngressDecision =
  | { kind: "drop"; why: "probe" }
  /** `replyTo`: the message's id, when it was read far enough to know it (its sender's error notice answers it) */
  | { kind: "dead"; code: string; reason: string; field?: string; replyTo?: string }
  | { kind: "forward"; subject: string; msgId: string; envelope: Envelope; traceParent?: string }
  | { kind: "turn"; agent: AgentSpec; session: string; envelope: Envelope; traceParent?: string }
  /** mail for a session: a tool's result, or the reminder of a deadline */
  | { kind: "mail"; agent: AgentSpec; session: string; mail: SessionMail };

/** What ingress decides with. */
export interface IngressContext {
  agents: readonly AgentSpec[];
  /** the agent for messages no binding matches */
  defaultAgent?: string;
  partitions: number;
  /** the partition this message was consumed from */
  partition: number;
  maxPayload: number;
}

function dead(e: unknown): IngressDecision {
  if (e instanceof EnvelopeError) return { kind: "dead", code: e.reason, reason: e.message, field: e.field };
  return { kind: "dead", code: "invalid_envelope", reason: (e as Error).message };
}

/** The partition a session lives in: its chat's for chat-scoped sessions, else the hash of its key. */
export function sessionPartition(agent: AgentSpec, session: string, e: Envelope, partitions: number): number {
  return agent.scope === "chat" ? chatPartition(e, partitions) : keyPartition(sessionKey(agent.id, session), partitions);
}

/** Decides what to do with a message from `claw.in.<p>.…`. */
export function decideInbound(m: InboundMessage, ctx: IngressContext): IngressDecision {
  const addr = parseInboundSubject(m.subject);
  if (m.header(H.probe) !== undefined || addr?.channel === PROBE_CHANNEL) return { kind: "drop", why: "probe" };
  if (!addr) return { kind: "dead", code: "bad_subject", reason: `not an inbound subject: ${m.subject}` };
  let envelope: Envelope;
  try {
    const body = decodeInbound(m.data, m.header(H.contentType), ctx.maxPayload);
    envelope = completeInbound(body, {
      // a replayed dead letter keeps its envelope id (Claw-Msg-Id); else the publisher's msg id; else the sequence
      id: m.header(H.clawMsgId) || m.header(H.msgId) || `${m.idPrefix}-${m.seq}`,
      ts: m.storedAt,
      channel: addr.channel,
      account: addr.account,
      chat: addr.chat,
      traceparent: m.header(H.traceparent),
    });
  } catch (e) {
    return dead(e);
  }
  // every message is traced: the envelope now carries the ingress span, a child of the
  // publisher's span when it sent one, else the root of a new trace
  const traceParent = envelope.trace.traceparent;
  envelope = { ...envelope, trace: { traceparent: hopTraceparent(traceParent, envelope.id, "ingress") } };
  const choice = resolveAgent(ctx.agents, envelope, ctx.defaultAgent);
  if (!choice.agent) return { kind: "dead", code: choice.code, reason: choice.reason, field: choice.field, replyTo: envelope.id };
  const agent = choice.agent;
  const session = sessionIdFor(agent, envelope);
  const p = sessionPartition(agent, session, envelope, ctx.partitions);
  if (p !== ctx.partition) {
    return { kind: "forward", subject: sessionSubject(p, agent.id, session), msgId: `${envelope.id}:fwd`, envelope, traceParent };
  }
  return { kind: "turn", agent, session, envelope, traceParent };
}

/**
 * Decides what to do with a message from a session mailbox
 * `claw.session.<p>.<agent>.<session>`: by its `Claw-Mail` header, a turn
 * forwarded from another partition (the default), or mail — a tool's result,
 * a deadline reminder.
 */
export function decideSessionMail(m: InboundMessage, agents: readonly AgentSpec[]): IngressDecision {
  const addr = parseSessionSubject(m.subject);
  if (!addr) return { kind: "dead", code: "bad_subject", reason: `not a session subject: ${m.subject}` };
  const agent = agents.find((a) => a.id === addr.agent);
  if (!agent) return { kind: "dead", code: "no_agent", reason: `no agent named ${addr.agent}` };
  const type = m.header(H.mail) ?? MAIL.turn;
  try {
    if (type === MAIL.turn) return { kind: "turn", agent, session: addr.session, envelope: parseEnvelope(decode(m.data)) };
    const mail = SessionMailSchema.parse(decode(m.data));
    if (mail.type !== type) return { kind: "dead", code: "invalid_mail", reason: `the ${H.mail} header says ${type}, the mail is ${mail.type}` };
    return { kind: "mail", agent, session: addr.session, mail };
  } catch (e) {
    if (e instanceof ZodError)
      return {
        kind: "dead",
        code: "invalid_mail",
        reason: `invalid ${type} mail: ${e.issues[0]?.path.join(".")}: ${e.issues[0]?.message}`,
        field: e.issues[0]?.path.join("."),
      };
    return dead(e);
  }
}
