/**
 * The message envelope: the only shape that crosses the bus (DESIGN.md §3).
 */
import { z } from "zod";
import { EnvelopeError } from "./errors.js";

/** Who sent a message. */
export const SenderSchema = z.object({
  id: z.string().min(1).max(256),
  name: z.string().max(256).optional(),
});

/** An attachment. Bytes never travel on the bus: media is referenced by URL. */
export const MediaSchema = z.object({
  type: z.enum(["image", "audio", "video", "file", "sticker", "location"]),
  url: z.string().max(4096).optional(),
  mime: z.string().max(256).optional(),
  name: z.string().max(1024).optional(),
  size: z.number().int().nonnegative().optional(),
});

const TRACEPARENT_FORMAT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** W3C trace context carried across every hop. */
export const TraceSchema = z.object({
  traceparent: z.string().regex(TRACEPARENT_FORMAT, "must be a W3C traceparent").optional(),
});

/** What a message is: a user's message, an agent's reply, a channel event, or an error notice. */
export const KindSchema = z.enum(["message", "reply", "event", "error"]);

/** The longest id and address part an envelope takes. */
const TOKEN_MAX = 200;
const token = z.string().min(1, "must not be empty").max(TOKEN_MAX);
/** What {@link token} takes, checked without zod (completeInbound's checks of what the bus supplies). */
const isToken = (s: string) => s.length >= 1 && s.length <= TOKEN_MAX;

/**
 * The envelope's format version, written by Claw on every envelope it makes.
 * Fields are only ever added within a version, and readers drop the ones
 * they do not know: a node reads what a newer node wrote, and the other way
 * round. A change an older node would misread raises the version.
 */
export const ENVELOPE_VERSION = 1;

/** The envelope schema. Unknown fields are dropped, never fatal. */
export const EnvelopeSchema = z
  .object({
    /** the format version ({@link ENVELOPE_VERSION}); absent in what older writers and outside publishers sent */
    v: z.number().int().positive().optional(),
    id: token,
    /** ms since the epoch */
    ts: z.number().int().nonnegative(),
    channel: token,
    account: token,
    chat: token,
    sender: SenderSchema,
    kind: KindSchema,
    text: z.string().optional(),
    media: z.array(MediaSchema).max(32),
    replyTo: z.string().max(200).optional(),
    metadata: z.record(z.string(), z.unknown()),
    trace: TraceSchema,
  })
  .refine((e) => e.kind !== "message" || (e.text !== undefined && e.text !== "") || e.media.length > 0, {
    message: "a message needs text or media",
    path: ["text"],
  });

/** A validated envelope. */
export type Envelope = z.infer<typeof EnvelopeSchema>;
/** A sender. */
export type Sender = z.infer<typeof SenderSchema>;

/**
 * What an outside publisher may send on `claw.in.<channel>.<account>.<chat>`:
 * the envelope with everything but `sender` optional. Address fields come from
 * the subject; the rest is defaulted by {@link completeInbound}.
 */
export const InboundInputSchema = z.object({
  id: z.string().min(1).max(200).optional(),
  ts: z.number().int().nonnegative().optional(),
  sender: SenderSchema,
  kind: KindSchema.optional(),
  text: z.string().optional(),
  media: z.array(MediaSchema).max(32).optional(),
  replyTo: z.string().max(200).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  trace: TraceSchema.optional(),
});

/**
 * The metadata key a channel adapter keeps a message's native reply routing
 * in (AMQP `reply_to` and `correlation_id`, an MQTT response topic, …). A
 * reply or error notice to the message carries it back, so whichever node
 * sends the reply knows where to, without state of its own.
 */
export const NATIVE_METADATA = "native";

/** What a reply to `m` carries of its metadata: the adapter's native routing, when it left any. */
export function nativeRoutingOf(m: Pick<Envelope, "metadata">): Record<string, unknown> {
  const native = m.metadata[NATIVE_METADATA];
  return native === undefined ? {} : { [NATIVE_METADATA]: native };
}

/** Turns a zod failure into an {@link EnvelopeError} naming the first offending field. */
export function envelopeErrorFrom(error: z.ZodError): EnvelopeError {
  const issue = error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join(".") : undefined;
  const message = issue ? `${field ?? "envelope"}: ${issue.message}` : "invalid envelope";
  return new EnvelopeError("invalid_envelope", message, field, { cause: error });
}

/** Validates a full envelope, throwing {@link EnvelopeError}. */
export function parseEnvelope(value: unknown): Envelope {
  const r = EnvelopeSchema.safeParse(value);
  if (!r.success) throw envelopeErrorFrom(r.error);
  return r.data;
}

// msgpack would carry an explicit `undefined`; leave the key out instead
const traceOf = (traceparent: string | undefined) => (traceparent ? { traceparent } : {});

/** Defaults supplied by the bus for an inbound message. */
export interface InboundDefaults {
  id: string;
  ts: number;
  channel: string;
  account: string;
  chat: string;
  traceparent?: string;
}

/**
 * Validates an outside publisher's payload and completes it into an envelope.
 * The subject's address wins over anything in the body.
 *
 * The payload is parsed once, by {@link InboundInputSchema}; what the bus
 * supplies (the id and traceparent from headers, the address from the
 * subject, the time) is checked here against what {@link EnvelopeSchema}
 * would check. Anything that fails those checks goes through
 * {@link parseEnvelope}, so its error is the schema's own, word for word
 * (test/unit/envelope-complete.test.ts holds both ways to the same results).
 */
export function completeInbound(value: unknown, d: InboundDefaults): Envelope {
  const r = InboundInputSchema.safeParse(value);
  if (!r.success) throw envelopeErrorFrom(r.error);
  const i = r.data;
  const traceparent = i.trace?.traceparent ?? d.traceparent;
  const e: Envelope = {
    v: ENVELOPE_VERSION,
    id: i.id ?? d.id,
    ts: i.ts ?? d.ts,
    channel: d.channel,
    account: d.account,
    chat: d.chat,
    sender: i.sender,
    kind: i.kind ?? "message",
    text: i.text,
    media: i.media ?? [],
    replyTo: i.replyTo,
    metadata: i.metadata ?? {},
    trace: traceOf(traceparent),
  };
  const valid =
    isToken(e.id) &&
    Number.isSafeInteger(e.ts) &&
    e.ts >= 0 &&
    isToken(e.channel) &&
    isToken(e.account) &&
    isToken(e.chat) &&
    (!traceparent || TRACEPARENT_FORMAT.test(traceparent)) &&
    (e.kind !== "message" || (e.text !== undefined && e.text !== "") || e.media.length > 0);
  return valid ? e : parseEnvelope(e);
}
