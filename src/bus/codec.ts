/**
 * Bytes ⇄ values on the bus: msgpack on internal subjects, JSON or msgpack
 * accepted on `claw.in.>` so any NATS client can publish.
 */
import { Packr } from "msgpackr";
import { EnvelopeError } from "./errors.js";

// Plain msgpack maps (no msgpackr records extension) so any msgpack library can read Claw's messages.
const packr = new Packr({ useRecords: false, moreTypes: false });

/** Default maximum inbound payload: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** Content types understood on inbound subjects (the `Content-Type` header). */
export const CONTENT_TYPE_JSON = "application/json";
export const CONTENT_TYPE_MSGPACK = "application/msgpack";

/** Encodes a value as msgpack. */
export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes msgpack. */
export function decode<T = unknown>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}

function firstNonSpace(bytes: Uint8Array): number | undefined {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return b;
  return undefined;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** How deep an inbound payload may nest (its metadata is free-form, and what is nested is encoded again on the way). */
export const MAX_PAYLOAD_DEPTH = 32;

/** True when `value` nests objects or arrays deeper than `limit` (walked without recursion). */
export function nestsDeeper(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== "object" || ArrayBuffer.isView(v)) continue;
    if (d > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === "object") stack.push([child, d + 1]);
  }
  return false;
}

/**
 * Decodes an inbound payload: JSON or msgpack by content type, or sniffed when
 * there is none (a JSON object starts with `{`; a msgpack map with 0x80–0x8f, 0xde, 0xdf).
 * Throws {@link EnvelopeError} (`too_large`, `bad_encoding`, `too_deep`).
 */
export function decodeInbound(bytes: Uint8Array, contentType: string | undefined, maxPayload: number): unknown {
  const value = decodeInboundValue(bytes, contentType, maxPayload);
  if (nestsDeeper(value, MAX_PAYLOAD_DEPTH)) throw new EnvelopeError("too_deep", `the payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels`);
  return value;
}

function decodeInboundValue(bytes: Uint8Array, contentType: string | undefined, maxPayload: number): unknown {
  if (bytes.length > maxPayload) {
    throw new EnvelopeError("too_large", `payload of ${bytes.length} bytes exceeds the maximum of ${maxPayload}`);
  }
  const ct = contentType?.split(";")[0]?.trim().toLowerCase();
  const first = firstNonSpace(bytes);
  const asJson = ct ? ct.includes("json") : first === 0x7b;
  if (asJson) {
    try {
      return JSON.parse(utf8.decode(bytes));
    } catch (e) {
      throw new EnvelopeError("bad_encoding", `invalid JSON: ${(e as Error).message}`, undefined, { cause: e });
    }
  }
  const isMap = first !== undefined && ((first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf);
  if (!isMap && !(ct && ct.includes("msgpack"))) {
    throw new EnvelopeError("bad_encoding", "payload is neither a JSON object nor a msgpack map (set Content-Type: application/json or application/msgpack)");
  }
  try {
    return decode(bytes);
  } catch (e) {
    throw new EnvelopeError("bad_encoding", `invalid msgpack: ${(e as Error).message}`, undefined, { cause: e });
  }
}
