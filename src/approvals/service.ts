/**
 * Approvals on a node: what a turn asks (the {@link ApprovalGate} its effects
 * are given), what the API and the chat decide, and how a decision reaches
 * the turn — as `approval.decided` mail in its session's mailbox, published
 * durably under `approval:<id>:decided`, so it resumes on whichever node owns
 * the session then.
 *
 * A request is announced: an event on `claw.events.approval.<agent>` (core
 * NATS) and a notice in the chat the call came from (its answer, `/approve
 * <id>` or `/deny <id> [reason]`, is chat-commands.ts').
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  encode,
  ENVELOPE_VERSION,
  eventSubject,
  H,
  MAIL,
  outboundSubject,
  publishDurable,
  type ApprovalDecidedMail,
  type ChatAddress,
  type Envelope,
  type JsPublish,
} from "../bus/index.js";
import type { ApprovalGate } from "../actors/index.js";
import { approvalView, type Approval, type ApprovalView } from "./approval.js";
import type { ApprovalStore, Decision } from "./store.js";

/** What is published on `claw.events.approval.<agent>`. */
export type ApprovalEvent = { type: "approval.requested"; approval: ApprovalView } | { type: "approval.decided"; approval: ApprovalView };

/** Options of {@link approvalService}. */
export interface ApprovalServiceOptions {
  store: ApprovalStore;
  publisher: JsPublish;
  /** core NATS, for the events */
  nc: Pick<NatsConnection, "publish">;
  nodeId: string;
  /** crash tests: `approval.after-decide` kills the node between recording a decision and telling its turn */
  failpoint?: (name: "approval.after-decide") => void;
}

/** A node's approvals. */
export interface ApprovalService extends ApprovalGate {
  readonly store: ApprovalStore;
  /**
   * Decides, exactly once, and tells the waiting turn.
   * @throws `NoApprovalError`, `ApprovalDecidedError`
   */
  decide(id: string, d: Decision): Promise<Approval>;
  /** tells the turn of a decision recorded earlier (its node may have died before it did) */
  deliver(a: Approval): Promise<void>;
  /** says `text` in chat `to` under message id `id`, answering `replyTo` */
  notify(to: ChatAddress, id: string, text: string, o?: { replyTo?: string; approval?: Approval }): Promise<void>;
}

/** What the chat is told of a request. */
export function requestNotice(a: Approval): string {
  const input = JSON.stringify(a.input ?? null);
  return (
    `Approval needed: agent ${a.agent} wants to run ${a.skill} with ${input.length > 500 ? `${input.slice(0, 500)}…` : input}.\n` +
    `Reply /approve ${a.id} or /deny ${a.id} <reason> (until ${new Date(a.expiresAt).toISOString()}).`
  );
}

/** The node's approvals over `o.store`. */
export function approvalService(o: ApprovalServiceOptions): ApprovalService {
  const event = (e: ApprovalEvent, agent: string) => {
    // best effort, as every event on claw.events: the KV entry is the record
    try {
      o.nc.publish(eventSubject("approval", agent), JSON.stringify(e));
    } catch {
      /* closed connection: nobody to tell */
    }
  };
  const notify: ApprovalService["notify"] = async (to, id, text, n = {}) => {
    const notice: Envelope = {
      v: ENVELOPE_VERSION,
      id,
      ts: Date.now(),
      ...to,
      sender: { id: "claw" },
      kind: "reply",
      text,
      media: [],
      replyTo: n.replyTo,
      metadata: n.approval ? { approval: approvalView(n.approval), agent: n.approval.agent } : {},
      trace: {},
    };
    await publishDurable(o.publisher, { subject: outboundSubject(to), data: encode(notice), msgId: id, headers: { [H.node]: o.nodeId } });
  };
  const deliver = async (a: Approval) => {
    const mail: ApprovalDecidedMail = {
      type: "approval.decided",
      approval: a.id,
      callId: a.callId,
      approved: a.status === "approved",
      by: a.by ?? "claw",
      ...(a.reason ? { reason: a.reason } : {}),
    };
    await publishDurable(o.publisher, {
      subject: a.replyTo,
      data: encode(mail),
      msgId: `approval:${a.id}:decided`,
      headers: { [H.node]: o.nodeId, [H.mail]: MAIL.approvalDecided },
    });
    await o.store.delivered(a.id);
  };
  return {
    store: o.store,
    async request(r) {
      const now = Date.now();
      const { approval } = await o.store.request({
        agent: r.agent,
        session: r.session,
        skill: r.skill,
        input: r.input,
        callId: r.callId,
        replyTo: r.replyTo,
        address: r.address,
        messageId: r.messageId,
        requestedAt: now,
        expiresAt: now + r.timeoutMs,
      });
      // announced again when the turn runs again (its notice's id is the approval's: the duplicate window absorbs it)
      event({ type: "approval.requested", approval: approvalView(approval) }, approval.agent);
      await notify(approval.address, `approval:${approval.id}:notice`, requestNotice(approval), { approval });
      return { id: approval.id };
    },
    async withdraw(ids) {
      await Promise.all(ids.map((id) => o.store.withdraw(id)));
    },
    async decide(id, d) {
      const a = await o.store.decide(id, d);
      // a node that dies here leaves the decision recorded and untold: the leader's sweeper tells the turn
      o.failpoint?.("approval.after-decide");
      event({ type: "approval.decided", approval: approvalView(a) }, a.agent);
      await deliver(a);
      return a;
    },
    deliver,
    notify,
  };
}
