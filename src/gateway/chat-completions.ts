/**
 * `POST /v1/chat/completions`, as OpenAI clients expect it: `model` names the
 * agent, `user` (or the `X-Claw-Session` header) the session, and the last
 * user message is the turn — Claw keeps the conversation, so earlier messages
 * in the request are not replayed. The answer is OpenAI's
 * `chat.completion` (or, with `stream: true`, `chat.completion.chunk` events
 * ending with `data: [DONE]`); errors come in OpenAI's error shape.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { nuid } from "@nats-io/transport-node";
import { z } from "zod";
import { allowed, principalOf } from "./principal.js";
import { callerId, httpChatAddress } from "./http-session.js";
import { HttpError } from "./errors.js";
import { readJson, sendJson } from "./http-io.js";
import type { Inbound } from "./inbound.js";
import { ChatRequestSchema, type ChatContent } from "./schemas.js";

/** OpenAI's error body. */
function openAiError(res: ServerResponse, status: number, message: string, type: string, code: string | null, param: string | null = null, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { message, type, param, code } }, headers);
}

const textOf = (content: ChatContent | undefined): string =>
  typeof content === "string" ? content : (content ?? []).flatMap((p) => (p.type === "text" && typeof p.text === "string" ? [p.text] : [])).join("\n");

/** What the endpoint needs of the node. */
export interface ChatCompletionsOptions {
  inbound: Inbound;
  maxPayload: number;
  /** true when an agent of this id exists */
  hasAgent(id: string): boolean;
  /** ms to wait for the reply (default 120 s) */
  timeoutMs?: number;
}

/** Handles `POST /v1/chat/completions`. */
export function chatCompletions(o: ChatCompletionsOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    let streaming = false;
    try {
      if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
      const parsed = ChatRequestSchema.safeParse(await readJson(req, o.maxPayload));
      if (!parsed.success) {
        const i = parsed.error.issues[0]!;
        return openAiError(res, 400, `${i.path.join(".")}: ${i.message}`, "invalid_request_error", "invalid_request", i.path.join(".") || null);
      }
      const body = parsed.data;
      if (!allowed(req, `agents:invoke:${body.model}`)) return openAiError(res, 403, `this needs the scope agents:invoke:${body.model}`, "invalid_request_error", "forbidden", "model");
      if (!o.hasAgent(body.model)) return openAiError(res, 404, `The model \`${body.model}\` does not exist: no agent has that id`, "invalid_request_error", "model_not_found", "model");
      const last = [...body.messages].reverse().find((m) => m.role === "user");
      const text = textOf(last?.content);
      if (!text) return openAiError(res, 400, "messages: no user message with text to answer", "invalid_request_error", "invalid_request", "messages");
      o.inbound.checkAvailable();
      const header = req.headers["x-claw-session"];
      const session = (typeof header === "string" && header) || body.user || nuid.next();
      const addr = httpChatAddress(body.model, session, principalOf(req));
      const input = { text, sender: { id: callerId(body.user ?? "http", principalOf(req), "user") }, metadata: { agent: body.model, api: "chat.completions" } };
      const created = Math.floor(Date.now() / 1000);
      const id = nuid.next();
      const completionId = `chatcmpl-${id}`;
      const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) =>
        `data: ${JSON.stringify({ id: completionId, object: "chat.completion.chunk", created, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;

      if (!body.stream) {
        const { reply } = await o.inbound.converse(addr, input, { idempotencyKey: id, timeoutMs: o.timeoutMs ?? 120_000 });
        if (reply.kind === "error") return openAiError(res, 500, reply.text ?? "the agent failed", "server_error", String(reply.metadata["code"] ?? "agent_failed"));
        const usage = usageOf(reply.metadata);
        return sendJson(res, 200, {
          id: completionId,
          object: "chat.completion",
          created,
          model: body.model,
          choices: [{ index: 0, message: { role: "assistant", content: reply.text ?? "" }, finish_reason: "stop" }],
          usage,
        });
      }

      // streamed: pieces as the model writes them, then whatever they missed, the finish, usage, [DONE]
      let streamed = "";
      const open = () => {
        if (streaming) return;
        streaming = true;
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
        res.write(chunk({ role: "assistant", content: "" }, null));
      };
      const { reply } = await o.inbound.converse(addr, input, {
        idempotencyKey: id,
        timeoutMs: o.timeoutMs ?? 120_000,
        onDelta: (piece) => {
          open();
          streamed += piece;
          res.write(chunk({ content: piece }, null));
        },
      });
      open();
      if (reply.kind === "error") {
        res.write(`data: ${JSON.stringify({ error: { message: reply.text ?? "the agent failed", type: "server_error", param: null, code: String(reply.metadata["code"] ?? "agent_failed") } })}\n\n`);
      } else {
        const full = reply.text ?? "";
        // the pieces are best effort (core NATS): send what they did not carry
        const rest = full.startsWith(streamed) ? full.slice(streamed.length) : full;
        if (rest) res.write(chunk({ content: rest }, null));
        res.write(chunk({}, "stop"));
        if (body.stream_options?.include_usage) res.write(`data: ${JSON.stringify({ id: completionId, object: "chat.completion.chunk", created, model: body.model, choices: [], usage: usageOf(reply.metadata) })}\n\n`);
      }
      res.end("data: [DONE]\n\n");
    } catch (e) {
      if (streaming) {
        res.end(`data: ${JSON.stringify({ error: { message: (e as Error).message, type: "server_error", param: null, code: null } })}\n\ndata: [DONE]\n\n`);
        return;
      }
      if (e instanceof HttpError) {
        const type = e.status === 503 || e.status === 504 ? "server_error" : "invalid_request_error";
        return openAiError(res, e.status, e.message, type, e.code, e.field ?? null, e.retryAfterS !== undefined ? { "retry-after": String(e.retryAfterS) } : {});
      }
      throw e;
    }
  };
}

/** OpenAI's usage from what the reply carries (`metadata.usage`, the provider's count), zeros when none is known. */
function usageOf(metadata: Record<string, unknown>): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const u = metadata["usage"] as { promptTokens?: number; completionTokens?: number } | undefined;
  const prompt = u?.promptTokens ?? 0;
  const completion = u?.completionTokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}
