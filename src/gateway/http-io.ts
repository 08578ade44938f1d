/**
 * Reading and writing JSON over node:http, for every route of the gateway.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "./errors.js";

/** Answers with a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...headers });
  res.end(data);
}

/**
 * Reads a body of at most `max` bytes as it came: 413 at once when its
 * Content-Length says more (nothing of it is read), or as soon as more
 * arrives than that.
 */
export async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > max) throw new HttpError(413, "too_large", `body of ${declared} bytes exceeds the maximum of ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) throw new HttpError(413, "too_large", `body exceeds the maximum of ${max} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** How deep a JSON body may nest (objects and arrays). */
export const MAX_JSON_DEPTH = 64;

/** The deepest nesting of brackets in JSON text (outside strings), stopping once past `limit`. */
function nestingDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/**
 * Reads a JSON body of at most `max` bytes: 415 for a content type that is
 * not JSON (none, `application/json`, `…+json` and `text/plain` — what
 * `fetch` sends a string as — are taken), 413 above the size, 400 when it is
 * not UTF-8, not JSON, or nested deeper than {@link MAX_JSON_DEPTH}.
 */
export async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "" && type !== "application/json" && !type.endsWith("+json") && type !== "text/plain") {
    throw new HttpError(415, "unsupported_media_type", `content-type ${type} is not taken here: send application/json`);
  }
  const body = await readBody(req, max);
  if (body.length === 0) throw new HttpError(400, "bad_json", "empty body: send a JSON object");
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new HttpError(400, "bad_encoding", "the body is not valid UTF-8");
  }
  if (nestingDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw new HttpError(400, "too_deep", `the JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, "bad_json", `invalid JSON: ${(e as Error).message}`);
  }
}
