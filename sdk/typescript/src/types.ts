/**
 * The SDK's types, read from the types generated from the node's own
 * OpenAPI document (src/generated/openapi.ts, made by the build): a change of
 * the API's schemas changes these, nothing here repeats a shape by hand. The
 * inputs are the bodies in camelCase where the SDK takes them so
 * (`idempotencyKey`, `timeoutMs`), the results likewise (`messageId`).
 */
import type { operations } from "./generated/openapi.js";

/** An operation of the API, by its `operationId`. */
export type OperationId = keyof operations;
/** The JSON body an operation takes. */
export type RequestBody<O extends OperationId> = NonNullable<operations[O]["requestBody"]> extends { content: { "application/json": infer B } } ? B : never;
/** The JSON an operation answers with `status`. */
export type ResponseBody<O extends OperationId, S extends number = 200> = operations[O]["responses"] extends {
  [K in S]: { content: { "application/json": infer R } };
}
  ? R
  : unknown;

/** Who sent a message: `{ id, name? }`, or just the id. */
export type Sender = NonNullable<RequestBody<"postV1Messages">["sender"]> | string;

type Publish = RequestBody<"postV1Messages">;
/** `messages.publish`: a message into a chat. */
export type PublishInput = Omit<Publish, "idempotency_key" | "sender"> & {
  sender?: Sender;
  /** makes a second publish of the same message absorbed (made for you when absent, and kept across the SDK's own retries) */
  idempotencyKey?: string;
};
type Accepted = ResponseBody<"postV1Messages", 202>;
/** What `messages.publish` resolves with. */
export interface PublishResult {
  messageId: Accepted["message_id"];
  /** true when the key's message had been accepted before (nothing new was sent) */
  duplicate: Accepted["duplicate"];
}

type Invoke = RequestBody<"postV1AgentsByIdInvoke">;
/** `agents.invoke`: a message to an agent. */
export type InvokeInput = Omit<Invoke, "idempotency_key" | "timeout_ms" | "sender"> & {
  sender?: Sender;
  /** makes a retry the same turn, answered with its reply; without one, a call is never sent twice */
  idempotencyKey?: string;
  /** how long the node waits for the reply, in ms (the node's default 30 000) */
  timeoutMs?: Invoke["timeout_ms"];
};
type InvokeAnswer = ResponseBody<"postV1AgentsByIdInvoke">;
/** What `agents.invoke` resolves with. */
export interface InvokeResult {
  messageId: InvokeAnswer["message_id"];
  session: InvokeAnswer["session"];
  reply: InvokeAnswer["reply"];
}

/** `agents.stream`: what `agents.invoke` takes (`timeoutMs`: how long to wait for the reply to begin); the text comes in pieces. */
export type StreamInput = Omit<InvokeInput, "metadata">;

/** An agent as the node holds it (`agents.get`, `agents.list`). */
export type RegisteredAgent = ResponseBody<"getV1AgentsById">;
/** What `agents.register` takes: an agent's spec, as `CLAW_CONFIG` writes it. */
export type AgentSpec = RequestBody<"postV1Agents">;
/** A skill version (`skills.list`). */
export type SkillVersion = ResponseBody<"getV1Skills">["skills"][number];
/** What `skills.register` takes: the skill.json fields. */
export type SkillDescriptor = Omit<RequestBody<"postV1Skills">, "files">;
/** `skills.invoke`'s options. */
export interface SkillInvokeOptions {
  /** a version or range (default: the newest) */
  version?: string;
  /** how long to wait for the output, in ms (the node's default 30 000) */
  timeoutMs?: number;
}
/** A channel account and its state (`channels.list`). */
export type ChannelSummary = ResponseBody<"getV1Channels">["channels"][number];
/** A dead letter (`dlq.list`, `dlq.get`). */
export type DeadLetter = ResponseBody<"getV1DlqBySeq">;
/** `dlq.replay`'s options: another subject, and whether to keep the dead letter. */
export type ReplayOptions = Partial<RequestBody<"postV1DlqBySeqReplay">>;
/** What `dlq.replay` resolves with. */
export type ReplayResult = ResponseBody<"postV1DlqBySeqReplay">;
/** What `webhooks.create` takes. */
export type WebhookInput = RequestBody<"postV1Webhooks">;
/** A subscription with its signing secret (shown once). */
export type CreatedWebhook = ResponseBody<"postV1Webhooks", 201>;
/** A subscription (`webhooks.list`). */
export type Webhook = ResponseBody<"getV1Webhooks">["webhooks"][number];
/** What `schedules.create` takes: the chat, the text, and one of `at`, `every`, `cron` (with `tz`). */
export type ScheduleInput = RequestBody<"postV1Schedules">;
/** A schedule (`schedules.create`, `schedules.get`, `schedules.list`), with when it fires next. */
export type Schedule = ResponseBody<"getV1SchedulesById">;
/** What `memory.list` narrows to: one sender (`channel`, `sender`), one chat (`channel`, `account`, `chat`), words to match (`q`). */
export type MemoryQuery = Partial<Record<"channel" | "account" | "chat" | "sender" | "q", string>> & { limit?: number };
/** What an agent remembers, by scope (`memory.list`). */
export type MemoryListing = ResponseBody<"getV1AgentsByIdMemory">;
/** A tool call waiting for a human's decision (`approvals.list`), or as decided (`approvals.decide`). */
export type Approval = ResponseBody<"postV1ApprovalsById">;
/** What `approvals.decide` takes: `{ decision: "approve" | "deny", by?, reason? }`. */
export type ApprovalDecision = RequestBody<"postV1ApprovalsById">;
/** An agent as OpenAI's model. */
export type Model = ResponseBody<"getV1ModelsById">;
/** OpenAI's chat completions request (what Claw reads of it; the rest passes through). */
export type ChatCompletionRequest = RequestBody<"postV1ChatCompletions">;
/** OpenAI's Responses request (likewise). */
export type ResponsesRequest = RequestBody<"postV1Responses">;

/** Options of the OpenAI-compatible calls. */
export interface OpenAiCallOptions {
  /** `Idempotency-Key`: a retry is the same turn (without one, a call is never sent twice) */
  idempotencyKey?: string;
  /** `X-Claw-Session`: the conversation, over `user` */
  session?: string;
  signal?: AbortSignal;
}

/** A list's options: how many items each page asks for (the node's default 100). */
export interface ListOptions {
  pageSize?: number;
}

/** `GET /v1/usage`'s query: one tenant (the operator's choice; a tenant's credential gets its own), one agent, the days. */
export interface UsageQuery {
  tenant?: string;
  agent?: string;
  /** `YYYY-MM-DD` (UTC) */
  from?: string;
  to?: string;
}
/** Model calls and tokens per day, tenant and agent. */
export type UsageReport = ResponseBody<"getV1Usage">;
