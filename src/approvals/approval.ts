/**
 * An approval: a tool call an agent's `approve` holds back until a human
 * decides (docs/approvals.md). Kept in KV `claw_approvals` as JSON; the API
 * and the chat name it by its random id.
 */
import { z } from "zod";

/** An approval's id: `ap` and 24 lower-case letters or digits (random: a name nobody guesses). */
export const APPROVAL_ID = /^ap[a-z0-9]{24}$/;

/** Where an approval stands. */
export const APPROVAL_STATUSES = ["pending", "approved", "denied", "withdrawn"] as const;

/** An approval as it is stored. */
export const ApprovalSchema = z.object({
  id: z.string().regex(APPROVAL_ID),
  agent: z.string(),
  session: z.string(),
  skill: z.string(),
  input: z.unknown(),
  /** the call it holds back */
  callId: z.string(),
  /** the session's mailbox: where the decision goes */
  replyTo: z.string(),
  /** the chat it is announced in */
  address: z.object({ channel: z.string(), account: z.string(), chat: z.string() }),
  /** the message whose turn made the call */
  messageId: z.string(),
  /** ms since the epoch */
  requestedAt: z.number(),
  expiresAt: z.number(),
  status: z.enum(APPROVAL_STATUSES),
  /** once decided: who, why, when, and whether the session was told (a decision not yet told is told again by the leader) */
  by: z.string().optional(),
  reason: z.string().optional(),
  decidedAt: z.number().optional(),
  delivered: z.boolean().optional(),
});
export type Approval = z.infer<typeof ApprovalSchema>;

/** The stored JSON of an approval, or undefined when it is not one. */
export function decodeApproval(value: Uint8Array): Approval | undefined {
  try {
    const r = ApprovalSchema.safeParse(JSON.parse(new TextDecoder().decode(value)));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** `POST /v1/approvals/{id}`. */
export const DecideApprovalSchema = z
  .object({
    decision: z.enum(["approve", "deny"]),
    /** who decides (default: the caller's key or token subject) */
    by: z.string().min(1).max(200).optional(),
    /** why (the model reads it with a denial) */
    reason: z.string().max(2000).optional(),
  })
  .strict();
export type DecideApproval = z.infer<typeof DecideApprovalSchema>;

/** `GET /v1/approvals`' filters. */
export const ApprovalsQuerySchema = z
  .object({
    agent: z.string().min(1).max(64).optional(),
    session: z.string().min(1).max(600).optional(),
  })
  .strict();

/** An approval as the API shows it. */
export const ApprovalViewSchema = z.object({
  id: z.string(),
  agent: z.string(),
  session: z.string(),
  skill: z.string(),
  input: z.unknown(),
  requestedAt: z.string().describe("ISO-8601"),
  expiresAt: z.string().describe("ISO-8601"),
  status: z.enum(APPROVAL_STATUSES),
  by: z.string().optional(),
  reason: z.string().optional(),
  decidedAt: z.string().optional(),
});
export type ApprovalView = z.infer<typeof ApprovalViewSchema>;

const iso = (ms: number) => new Date(ms).toISOString();

/** What the API, the events and the webhooks show of an approval (not its mailbox or call id). */
export function approvalView(a: Approval): ApprovalView {
  return {
    id: a.id,
    agent: a.agent,
    session: a.session,
    skill: a.skill,
    input: a.input,
    requestedAt: iso(a.requestedAt),
    expiresAt: iso(a.expiresAt),
    status: a.status,
    ...(a.by !== undefined ? { by: a.by } : {}),
    ...(a.reason !== undefined ? { reason: a.reason } : {}),
    ...(a.decidedAt !== undefined ? { decidedAt: iso(a.decidedAt) } : {}),
  };
}

/** A chat command that decides: `/approve <id>` or `/deny <id> [reason]`. */
export interface ApprovalCommand {
  approved: boolean;
  id: string;
  reason?: string;
}

/** The approval command `text` is, if it is one (a command with a bot's name, `/approve@bot`, counts too). */
export function parseApprovalCommand(text: string | undefined): ApprovalCommand | undefined {
  const m = /^\/(approve|deny)(?:@\S+)?(?:\s+(\S+))?(?:\s+([\s\S]*))?$/.exec(text?.trim() ?? "");
  if (!m) return undefined;
  const reason = m[3]?.trim();
  return { approved: m[1] === "approve", id: m[2] ?? "", ...(reason ? { reason: reason.slice(0, 2000) } : {}) };
}
