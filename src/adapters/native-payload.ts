/**
 * What a native payload says: a JSON object with `text` (and optionally
 * `sender`, `metadata`, `media`) is taken as such; any other UTF-8 payload
 * is the text. Anything else (not UTF-8, empty, a JSON object whose `text`
 * is not a string) is malformed and goes to the dead letters with the reason.
 */
import type { Sender } from "../bus/index.js";

/** What an inbound message says, before its address is added. */
export interface NativeInput {
  text: string;
  sender?: Sender;
  metadata?: Record<string, unknown>;
  media?: unknown[];
}

/** A native payload Claw cannot take, and why. */
export class NativePayloadError extends Error {
  constructor(
    message: string,
    readonly code: "invalid_payload" = "invalid_payload",
  ) {
    super(message);
    this.name = "NativePayloadError";
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Reads a native payload; throws {@link NativePayloadError}. */
export function parseNativePayload(data: Uint8Array): NativeInput {
  if (data.length === 0) throw new NativePayloadError("the payload is empty: a message needs text");
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    throw new NativePayloadError("the payload is neither UTF-8 text nor JSON");
  }
  const first = text.trimStart()[0];
  if (first !== "{") return { text };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { text }; // text that starts with a brace
  }
  if (!isObject(value) || !("text" in value)) return { text };
  if (typeof value.text !== "string") throw new NativePayloadError("text: must be a string");
  const out: NativeInput = { text: value.text };
  if (value.sender !== undefined) {
    if (typeof value.sender === "string") out.sender = { id: value.sender };
    else if (isObject(value.sender) && typeof value.sender.id === "string")
      out.sender = { id: value.sender.id, ...(typeof value.sender.name === "string" ? { name: value.sender.name } : {}) };
    else throw new NativePayloadError('sender: must be a string or { "id", "name"? }');
  }
  if (value.metadata !== undefined) {
    if (!isObject(value.metadata)) throw new NativePayloadError("metadata: must be an object");
    out.metadata = value.metadata;
  }
  if (value.media !== undefined) {
    if (!Array.isArray(value.media)) throw new NativePayloadError("media: must be an array");
    out.media = value.media;
  }
  return out;
}

/** The JSON a reply is sent as on AMQP, MQTT and Kafka. */
export function replyPayload(e: { text?: string; kind: string; replyTo?: string; chat: string; media: unknown[]; metadata: Record<string, unknown> }): string {
  const { native: _native, ...metadata } = e.metadata;
  return JSON.stringify({ text: e.text ?? "", kind: e.kind, replyTo: e.replyTo, chat: e.chat, media: e.media, metadata });
}
