/**
 * Request bodies of the HTTP API, validated with zod at the boundary.
 */
import { z } from "zod";
import { MediaSchema, SenderSchema, type EnvelopeError } from "../bus/index.js";
import { HttpError } from "./errors.js";

const token = z.string().min(1, "must not be empty").max(200);

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
  idempotency_key: z.string().min(1).max(200).optional(),
  timeout_ms: z.number().int().min(1).max(300_000).default(30_000),
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
