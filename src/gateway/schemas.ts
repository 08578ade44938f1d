/**
 * Request bodies of the HTTP API, validated with zod at the boundary.
 */
import { z } from "zod";
import { encodeToken, MAX_TOKEN_LENGTH, MediaSchema, SenderSchema, type EnvelopeError } from "../bus/index.js";
import { HttpError } from "./errors.js";
import { MemoryScopeSchema } from "../memory/index.js";
import { TenantIdSchema } from "../tenants/index.js";

/** True when `s` fits in one subject token (letters, digits, `_` and `-` take one character there, anything else three per UTF-8 byte). */
function fitsToken(s: string): boolean {
  try {
    encodeToken(s);
    return true;
  } catch {
    return false;
  }
}

/** A part of a chat's address (channel, account, chat, session): it becomes a NATS subject token. */
export const AddressTokenSchema = z
  .string()
  .min(1, "must not be empty")
  .max(200)
  .refine(
    fitsToken,
    `too long: at most ${MAX_TOKEN_LENGTH} characters once encoded (letters, digits, _ and - count one, any other character three per UTF-8 byte)`,
  );
const token = AddressTokenSchema;

/** `POST /v1/messages`: publish one inbound message (202 once it is durably accepted). */
export const PostMessageSchema = z.object({
  channel: token.default("http"),
  account: token.default("default"),
  chat: token,
  sender: SenderSchema.default({ id: "http" }),
  text: z.string().optional(),
  media: z.array(MediaSchema).max(32).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  /** becomes the message id and its JetStream `Nats-Msg-Id`: a retry inside the duplicate window is absorbed */
  idempotency_key: z.string().min(1).max(200).optional(),
});

/** `POST /v1/agents/{id}/invoke`: send a message to an agent and wait for its reply. */
export const InvokeSchema = z.object({
  text: z.string().min(1, "must not be empty"),
  /** the conversation; a new one per request when absent */
  session: token.optional(),
  sender: SenderSchema.default({ id: "http" }),
  metadata: z.record(z.string(), z.unknown()).optional(),
  /** a retry with the same key (or `Idempotency-Key` header) is the same turn, answered with its reply */
  idempotency_key: z.string().min(1).max(200).optional(),
  timeout_ms: z.number().int().min(1).max(300_000).default(30_000),
});

const ChatContentSchema = z.union([z.string(), z.array(z.object({ type: z.string(), text: z.string().optional() }).passthrough()), z.null()]);

/** The part of OpenAI's request Claw reads (anything else is accepted and ignored). */
export const ChatRequestSchema = z
  .object({
    model: z.string().min(1),
    messages: z.array(z.object({ role: z.string(), content: ChatContentSchema.optional() }).passthrough()).min(1),
    user: token.optional(),
    stream: z.boolean().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullish(),
  })
  .passthrough();

/** One of OpenAI's models, which in Claw is an agent (`GET /v1/models/{id}`). */
export const ModelSchema = z.object({ id: z.string(), object: z.literal("model"), created: z.number().int(), owned_by: z.string() });

/** `GET /v1/models`: the agents the caller may invoke. */
export const ModelListSchema = z.object({ object: z.literal("list"), data: z.array(ModelSchema) });

const ResponseInputContentSchema = z.union([z.string(), z.array(z.object({ type: z.string(), text: z.string().optional() }).passthrough())]);

/**
 * The part of OpenAI's Responses request Claw reads (anything else is
 * accepted and ignored): `input` as text or as items, of which the last user
 * message's text is the turn.
 */
export const ResponsesRequestSchema = z
  .object({
    model: z.string().min(1),
    input: z.union([
      z.string(),
      z.array(z.object({ type: z.string().optional(), role: z.string().optional(), content: ResponseInputContentSchema.optional() }).passthrough()).min(1),
    ]),
    instructions: z.string().nullish(),
    user: z.string().min(1).max(200).optional(),
    previous_response_id: z.string().min(1).max(600).nullish(),
    stream: z.boolean().nullish(),
  })
  .passthrough();

/** An input item's content: text, or parts of which the text ones (`input_text`, `output_text`, `text`) are read. */
export type ResponseInputContent = z.infer<typeof ResponseInputContentSchema>;

/** A chat message's content: text, or parts of which the text ones are read. */
export type ChatContent = z.infer<typeof ChatContentSchema>;

/** `POST /v1/skills/{id}/invoke`. */
export const InvokeSkillSchema = z.object({
  input: z.unknown().optional(),
  version: z.string().min(1).max(64).optional(),
  timeout_ms: z.number().int().min(1).max(600_000).default(30_000),
});

/** Parses a body with a schema, throwing a 400 {@link HttpError} that names the offending field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join(".") : undefined;
  throw new HttpError(400, "invalid_body", issue ? `${field ?? "body"}: ${issue.message}` : "invalid body", field);
}

/** Maps an envelope validation error to a 400/413. */
export function fromEnvelopeError(e: EnvelopeError): HttpError {
  return new HttpError(e.reason === "too_large" ? 413 : 400, e.reason, e.message, e.field);
}

/** `?limit&cursor` of a list: at most `limit` items after the (opaque) cursor. */
export const PageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(200).optional(),
});

/** `GET /v1/dlq`: a page of dead letters, of one stage or all. */
export const DeadLetterQuerySchema = PageQuerySchema.extend({ stage: z.string().min(1).max(64).optional() });

/** `POST /v1/dlq/{seq}/replay`. */
export const ReplaySchema = z.object({
  /** another subject than the original */
  to: z.string().min(1).max(512).optional(),
  /** keep the dead letter after replaying it */
  keep: z.boolean().default(false),
});

/** Every error the gateway answers (OpenAI-compatible routes answer OpenAI's shape). */
export const ErrorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    /** the offending field of a body or query */
    field: z.string().optional(),
    /** a 403's missing scope */
    scope: z.string().optional(),
  }),
});

/** `202` of `POST /v1/messages`. */
export const AcceptedSchema = z.object({ message_id: z.string(), duplicate: z.boolean() });

/** `200` of `POST /v1/agents/{id}/invoke`. */
export const InvokeReplySchema = z.object({
  message_id: z.string(),
  session: z.string(),
  reply: z.object({ id: z.string(), kind: z.enum(["reply", "error"]), text: z.string().optional(), ts: z.number() }),
  /** a failed turn: its code, and whether sending the request again may succeed (then 503 with Retry-After, else 502) */
  error: z.object({ code: z.string(), retryable: z.boolean() }).optional(),
});

const nextCursor = z.string().nullable().describe("pass as ?cursor= for the next page; null on the last");
/** A page of `items` under `key`, with the next page's cursor. */
export const pageOf = <K extends string>(key: K, item: z.ZodType) =>
  z.object({ [key]: z.array(item), next_cursor: nextCursor } as Record<K, z.ZodArray<z.ZodType>> & { next_cursor: typeof nextCursor });

/** A channel account and its state (`GET /v1/channels`). */
export const ChannelSummarySchema = z.object({
  type: z.string(),
  account: z.string(),
  owner: z.string().optional(),
  state: z.string(),
  lastError: z.string().optional(),
  attempt: z.number().optional(),
  connectedAt: z.number().optional(),
  nodes: z.array(z.string()),
  capabilities: z
    .object({
      threads: z.boolean(),
      edits: z.boolean().describe("a reply being written is shown growing"),
      media: z.array(z.string()).describe("the media a reply carries here; any other medium goes as a link in the text"),
      maxTextLength: z.number().optional(),
    })
    .optional()
    .describe("what the channel type can do"),
});

/** A dead letter (`GET /v1/dlq`, `GET /v1/dlq/{seq}`): its payload base64-encoded. */
export const DeadLetterSchema = z.object({
  seq: z.number().int(),
  stage: z.string(),
  code: z.string(),
  reason: z.string(),
  originalSubject: z.string(),
  deliveries: z.number().int(),
  node: z.string(),
  time: z.string(),
  field: z.string().optional(),
  msgId: z.string().optional(),
  size: z.number().int(),
  data_base64: z.string(),
  headers: z.record(z.string(), z.string()).optional(),
});

/** Parses a query string with a schema, throwing a 400 naming the parameter. */
export function parseQuery<T extends z.ZodType>(schema: T, params: URLSearchParams): z.infer<T> {
  const r = schema.safeParse(Object.fromEntries(params));
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join(".") : undefined;
  throw new HttpError(400, "invalid_query", issue ? `${field ?? "query"}: ${issue.message}` : "invalid query", field);
}

/** One page of `items` (ordered and stable), from `?limit&cursor` (an opaque offset). */
export function page<T>(items: readonly T[], q: { limit: number; cursor?: string }): { items: T[]; next_cursor: string | null } {
  let from = 0;
  if (q.cursor !== undefined) {
    const m = /^o(\d+)$/.exec(Buffer.from(q.cursor, "base64url").toString("utf8"));
    if (!m) throw new HttpError(400, "invalid_query", "cursor: not a cursor this list gave out", "cursor");
    from = Number(m[1]);
  }
  const slice = items.slice(from, from + q.limit);
  const next = from + slice.length;
  return { items: slice, next_cursor: next < items.length ? Buffer.from(`o${next}`).toString("base64url") : null };
}

/** `GET /v1/agents/{id}/memory`'s query: a sender (with its channel), a chat (with channel and account), words to match. */
export const MemoryQuerySchema = z
  .object({
    channel: z.string().min(1).max(200).optional(),
    account: z.string().min(1).max(200).optional(),
    chat: z.string().min(1).max(200).optional(),
    sender: z.string().min(1).max(600).optional(),
    q: z.string().min(1).max(2000).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();

const MemorySchema = z.object({ id: z.string(), text: z.string(), tags: z.array(z.string()), ts: z.number(), score: z.number().optional() });
/** What `GET /v1/agents/{id}/memory` answers: the scopes and their memories, newest (or best) first. */
export const MemoryListingSchema = z.object({
  agent: z.string(),
  scopes: z.array(
    z.object({
      scope: MemoryScopeSchema,
      memories: z.array(MemorySchema),
    }),
  ),
});

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a day: YYYY-MM-DD (UTC)");

/** The query of `GET /v1/usage`: absent `from`/`to` are the last 30 days. */
export const UsageQuerySchema = z
  .object({
    tenant: TenantIdSchema.optional(),
    /** an agent's id (a tenant names its own agents as it named them) */
    agent: z.string().min(1).max(129).optional(),
    from: Day.optional(),
    to: Day.optional(),
  })
  .strict();

/** One row of the report. */
export const UsageRowSchema = z.object({
  day: z.string(),
  tenant: z.string().optional(),
  agent: z.string(),
  model_calls: z.number(),
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  /** turns answered */
  turns: z.number(),
  /** skill invocations the agent's turns made, run to an end (ok or not) */
  skill_invocations: z.number(),
  /** how long those ran, in seconds */
  skill_seconds: z.number(),
  /** user messages that came for the agent (those a quota refused too) */
  messages_in: z.number(),
  /** what the agent sent to chats: replies, and the error notices of its failed or refused turns */
  messages_out: z.number(),
});

/** The report. */
export const UsageReportSchema = z.object({ from: z.string(), to: z.string(), usage: z.array(UsageRowSchema) });
