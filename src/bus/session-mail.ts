/**
 * What crosses the bus besides envelopes: a skill invocation
 * (`claw.skill.<id>.invoke`, on `CLAW_SKILLS`) and the mail a session
 * receives in its own mailbox (`claw.session.<p>.<agent>.<session>`, on
 * `CLAW_SESSIONS`): a forwarded turn (an envelope), a tool's result, or the
 * reminder that the tools it waits for are past their deadline. Each is one
 * zod schema, msgpack on the wire, validated where it is read.
 */
import { z } from "zod";

/** A request to run a skill, published durably by the session that needs its result. */
export const SkillInvocationSchema = z.object({
  /** the invocation's id, also its `Nats-Msg-Id`: `<inbound id>:tool:<round>:<i>` */
  id: z.string().min(1).max(400),
  /** skill id (`time.now`) */
  skill: z.string().min(1).max(128),
  /** semver range the caller accepts (absent: any) */
  version: z.string().max(64).optional(),
  input: z.unknown(),
  /** where the result goes: the calling session's mailbox, or a `claw.skill-result.<id>` subject a waiter listens on */
  replyTo: z.string().min(1),
  /** the calling session (`<agent>.<session>`), for skills whose workspace lives as long as the session */
  session: z.string().max(600).optional(),
  /** the chat of the message whose turn made the call (a built-in such as `schedule.create` acts on it) */
  address: z.object({ channel: z.string().max(200), account: z.string().max(200), chat: z.string().max(200) }).optional(),
  /** the id of the sender whose message made the call (a built-in such as `memory.write` keeps what it is told per sender) */
  sender: z.string().max(600).optional(),
  /** ms since epoch after which the caller no longer waits */
  deadline: z.number().int().positive(),
  trace: z.object({ traceparent: z.string().optional() }).default({}),
  /** how deep the calling turn is in a chain of agents asking agents (`agents.ask`): 0 for a turn a user started */
  depth: z.number().int().min(0).max(1000).optional(),
});
export type SkillInvocation = z.infer<typeof SkillInvocationSchema>;

/** Why a skill invocation failed (`timeout`, `denied`, `exit`, `invalid_input`, `unknown_skill`, …). */
export const SkillErrorSchema = z.object({ code: z.string().min(1), message: z.string() });
export type SkillError = z.infer<typeof SkillErrorSchema>;

/** A tool's result, in the calling session's mailbox. */
export const ToolResultMailSchema = z.object({
  type: z.literal("tool.result"),
  /** the invocation id (= the call id the session waits for) */
  callId: z.string().min(1),
  skill: z.string(),
  ok: z.boolean(),
  output: z.unknown().optional(),
  error: SkillErrorSchema.optional(),
  durationMs: z.number().nonnegative().default(0),
});
export type ToolResultMail = z.infer<typeof ToolResultMailSchema>;

/** The reminder a session sends itself when it suspends: the calls still pending at `notBefore` time out. */
export const ToolDeadlineMailSchema = z.object({
  type: z.literal("tool.deadline"),
  callIds: z.array(z.string().min(1)).min(1),
  /** ms since epoch: not to be acted on before */
  notBefore: z.number().int().positive(),
});
export type ToolDeadlineMail = z.infer<typeof ToolDeadlineMailSchema>;

/** A human's decision on a tool call the session holds back for approval (`approve` of its agent). */
export const ApprovalDecidedMailSchema = z.object({
  type: z.literal("approval.decided"),
  /** the approval's id */
  approval: z.string().min(1).max(64),
  /** the call it holds back */
  callId: z.string().min(1).max(400),
  approved: z.boolean(),
  /** who decided (`claw` for a timeout) */
  by: z.string().min(1).max(200),
  reason: z.string().max(2000).optional(),
});
export type ApprovalDecidedMail = z.infer<typeof ApprovalDecidedMailSchema>;

/** Mail other than a turn. */
export const SessionMailSchema = z.discriminatedUnion("type", [ToolResultMailSchema, ToolDeadlineMailSchema, ApprovalDecidedMailSchema]);
export type SessionMail = z.infer<typeof SessionMailSchema>;

/** The `Claw-Mail` header values. */
export const MAIL = { turn: "turn", toolResult: "tool.result", toolDeadline: "tool.deadline", approvalDecided: "approval.decided" } as const;
