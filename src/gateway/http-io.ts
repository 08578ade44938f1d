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

/** Reads a body of at most `max` bytes as it came (413 above it). */
export async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) throw new HttpError(413, "too_large", `body exceeds the maximum of ${max} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Reads a JSON body of at most `max` bytes (413 above it, 400 when it is not JSON). */
export async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const body = await readBody(req, max);
  if (body.length === 0) throw new HttpError(400, "bad_json", "empty body: send a JSON object");
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (e) {
    throw new HttpError(400, "bad_json", `invalid JSON: ${(e as Error).message}`);
  }
}
