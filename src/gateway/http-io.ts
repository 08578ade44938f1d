/**
 * Reading and writing JSON over node:http, for every route of the gateway.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { MAX_PAYLOAD_DEPTH } from "../bus/index.js";
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
 * arrives than that; 400 when the client goes away or breaks the framing
 * before it ends. The request is left paused, never destroyed: the error's
 * answer still reaches the client, and the connection is closed after it
 * (`connection: close`).
 */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > max)
    return Promise.reject(new HttpError(413, "too_large", `body of ${declared} bytes exceeds the maximum of ${max} bytes`));
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (e?: HttpError) => {
      req.off("data", onData).off("end", onEnd).off("error", onBroken).off("close", onBroken);
      if (!e) return resolve(Buffer.concat(chunks, size));
      req.pause();
      reject(e);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) return finish(new HttpError(413, "too_large", `body exceeds the maximum of ${max} bytes`));
      chunks.push(c);
    };
    const onEnd = () => finish();
    // the parser's error (a bad chunk size), a reset, or a close before the body's end
    const onBroken = () => finish(new HttpError(400, "bad_body", "the body was cut off or malformed"));
    req.on("data", onData).once("end", onEnd).once("error", onBroken).once("close", onBroken);
  });
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The deepest nesting of brackets in JSON text (outside strings), stopping once past `limit`. */
function nestingDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/**
 * Reads a JSON body of at most `max` bytes: 415 unless its content type is
 * `application/json` or `…+json` (a web page can send `text/plain`, a form
 * or no type to any site without asking first; JSON it cannot), 413 above
 * the size, 400 when it is not UTF-8, not JSON, or nested deeper than
 * {@link MAX_PAYLOAD_DEPTH} — the depth ingress takes, so what is accepted
 * here is never dead-lettered for it later.
 */
export async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json" && !(type.endsWith("+json") && type.includes("/"))) {
    throw new HttpError(
      415,
      "unsupported_media_type",
      `${type ? `content-type ${type}` : "a body without a content type"} is not taken here: send content-type: application/json`,
    );
  }
  const body = await readBody(req, max);
  if (body.length === 0) throw new HttpError(400, "bad_json", "empty body: send a JSON object");
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new HttpError(400, "bad_encoding", "the body is not valid UTF-8");
  }
  return parseJsonText(text);
}

/**
 * JSON text as a body is read (a field of another transport's request, gRPC's `input_json`): 400 when it is not
 * JSON or nests deeper than {@link MAX_PAYLOAD_DEPTH}, naming `field` when it is one.
 */
export function parseJsonText(text: string, field?: string): unknown {
  const where = field ? `${field}: ` : "";
  if (nestingDepth(text, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH)
    throw new HttpError(400, "too_deep", `${where}the JSON nests deeper than ${MAX_PAYLOAD_DEPTH} levels`, field);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, "bad_json", `${where}invalid JSON: ${(e as Error).message}`, field);
  }
}
