/**
 * `POST /v1/chat/completions`, as OpenAI clients expect it: `model` names the
 * agent, `user` (or the `X-Claw-Session` header) the session, and the last
 * user message is the turn — Claw keeps the conversation, so earlier messages
 * in the request are not replayed (see openai-turn.ts). The answer is
 * OpenAI's `chat.completion` (or, with `stream: true`, `chat.completion.chunk`
 * events ending with `data: [DONE]`); errors come in OpenAI's error shape,
 * a failed turn with the status its failure calls for (turn-failure.ts).
 *
 * @see https://platform.openai.com/docs/api-reference/chat/create
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "./errors.js";
import { readJson, sendJson } from "./http-io.js";
import { openAiError, openAiHttpError } from "./openai-error.js";
import { openAiTurn, takeTurn, usageOf, type OpenAiEndpointOptions } from "./openai-turn.js";
import { ChatRequestSchema, type ChatContent } from "./schemas.js";
import { turnFailureAnswer } from "./turn-failure.js";

const textOf = (content: ChatContent | undefined): string =>
  typeof content === "string" ? content : (content ?? []).flatMap((p) => (p.type === "text" && typeof p.text === "string" ? [p.text] : [])).join("\n");

/** What the endpoint needs of the node. */
export type ChatCompletionsOptions = OpenAiEndpointOptions;

/** OpenAI's usage object. */
function chatUsage(metadata: Record<string, unknown>): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const u = usageOf(metadata);
  return { prompt_tokens: u.input, completion_tokens: u.output, total_tokens: u.input + u.output };
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
      const last = [...body.messages].reverse().find((m) => m.role === "user");
      const turn = openAiTurn(req, o, {
        model: body.model,
        text: textOf(last?.content),
        param: "messages",
        session: body.user,
        user: body.user,
        api: "chat.completions",
      });
      const created = Math.floor(Date.now() / 1000);
      // a retry's answer carries the same id as the first try's
      const completionId = `chatcmpl-${turn.id}`;
      const event = (choices: unknown[], extra: Record<string, unknown> = {}) =>
        `data: ${JSON.stringify({ id: completionId, object: "chat.completion.chunk", created, model: body.model, choices, ...extra })}\n\n`;
      const chunk = (delta: Record<string, unknown>, finish: string | null) => event([{ index: 0, delta, finish_reason: finish }]);

      if (!body.stream) {
        const reply = await takeTurn(o, turn);
        return sendJson(res, 200, {
          id: completionId,
          object: "chat.completion",
          created,
          model: body.model,
          choices: [{ index: 0, message: { role: "assistant", content: reply.text ?? "" }, finish_reason: "stop" }],
          usage: chatUsage(reply.metadata),
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
      const reply = await takeTurn(o, turn, {
        streaming: () => streaming,
        onDelta: (piece) => {
          open();
          streamed += piece;
          res.write(chunk({ content: piece }, null));
        },
      });
      open();
      if (reply.kind === "error") {
        // the stream is open (its status sent): the failure can only be told in it
        const f = turnFailureAnswer(reply, 400);
        res.write(`data: ${JSON.stringify({ error: { message: f.message, type: "server_error", param: null, code: f.code } })}\n\n`);
      } else {
        const full = reply.text ?? "";
        // the pieces are best effort (core NATS): send what they did not carry
        const rest = full.startsWith(streamed) ? full.slice(streamed.length) : full;
        if (rest) res.write(chunk({ content: rest }, null));
        res.write(chunk({}, "stop"));
        if (body.stream_options?.include_usage) res.write(event([], { usage: chatUsage(reply.metadata) }));
      }
      res.end("data: [DONE]\n\n");
    } catch (e) {
      if (streaming) {
        res.end(`data: ${JSON.stringify({ error: { message: (e as Error).message, type: "server_error", param: null, code: null } })}\n\ndata: [DONE]\n\n`);
        return;
      }
      if (e instanceof HttpError) return openAiHttpError(res, e);
      throw e;
    }
  };
}
