/**
 * `POST /v1/responses`: the text subset of OpenAI's Responses API, answered
 * by the agent the `model` names, as chat completions are (openai-turn.ts).
 *
 * - `input` is a string, or items of which the last user message's text is
 *   the turn (Claw keeps the conversation; earlier items are not replayed).
 * - The conversation: `user` names it, as on chat completions; a response's
 *   id carries its conversation, so `previous_response_id` continues it (a
 *   request naming both must name the same one). Without either, each
 *   request starts a new one.
 * - `instructions` are not used: the agent's own `system` prompt (its
 *   configuration) is what it follows, as with chat completions' system
 *   messages — a caller cannot rewrite an operator's agent. The response
 *   says so with `instructions: null`.
 * - `stream: true` answers OpenAI's events: `response.created`,
 *   `response.in_progress`, `response.output_item.added`,
 *   `response.content_part.added`, `response.output_text.delta` as the model
 *   writes, then the `.done` events and `response.completed` (or
 *   `response.failed`). Tools, files, images, reasoning, `store` and
 *   sampling settings are ignored.
 *
 * @see https://platform.openai.com/docs/api-reference/responses/create
 * @see https://platform.openai.com/docs/api-reference/responses-streaming
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "./errors.js";
import { readJson, sendJson } from "./http-io.js";
import { openAiError, openAiHttpError } from "./openai-error.js";
import { openAiTurn, takeTurn, usageOf, type OpenAiEndpointOptions } from "./openai-turn.js";
import { ResponsesRequestSchema, type ResponseInputContent } from "./schemas.js";
import { turnFailureAnswer } from "./turn-failure.js";

const ID_PREFIX = "resp_";

/** A response's id: `resp_<turn>_<its conversation, base64url>`, so a later request can continue it. */
export function responseIdFor(turnId: string, session: string): string {
  return `${ID_PREFIX}${turnId.replace(/_/g, "-")}_${Buffer.from(session, "utf8").toString("base64url")}`;
}

/** The conversation a response id carries, or undefined when it is not one of Claw's. */
export function sessionOfResponseId(id: string): string | undefined {
  if (!id.startsWith(ID_PREFIX)) return undefined;
  const tail = id.slice(ID_PREFIX.length);
  const sep = tail.indexOf("_");
  if (sep < 1) return undefined;
  const encoded = tail.slice(sep + 1);
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return undefined;
  const session = Buffer.from(encoded, "base64url").toString("utf8");
  return session && Buffer.from(session, "utf8").toString("base64url") === encoded ? session : undefined;
}

const TEXT_PARTS = new Set(["input_text", "output_text", "text"]);
const textOf = (c: ResponseInputContent | undefined): string =>
  typeof c === "string" ? c : (c ?? []).flatMap((p) => (TEXT_PARTS.has(p.type) && typeof p.text === "string" ? [p.text] : [])).join("\n");

/** The turn's text: the input itself, or the last user message among the items. */
function inputText(input: string | Array<{ type?: string; role?: string; content?: ResponseInputContent }>): string {
  if (typeof input === "string") return input;
  const last = [...input].reverse().find((i) => (i.type === undefined || i.type === "message") && i.role === "user");
  return textOf(last?.content);
}

type Usage = {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens_details: { reasoning_tokens: number };
};

function usageObject(metadata: Record<string, unknown>): Usage {
  const u = usageOf(metadata);
  return {
    input_tokens: u.input,
    output_tokens: u.output,
    total_tokens: u.input + u.output,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens_details: { reasoning_tokens: 0 },
  };
}

/** The assistant's message item. */
function messageItem(id: string, status: "in_progress" | "completed", text?: string) {
  return { id, type: "message", status, role: "assistant", content: text === undefined ? [] : [{ type: "output_text", text, annotations: [], logprobs: [] }] };
}

/** What a response object is made of. */
interface ResponseFacts {
  id: string;
  created: number;
  model: string;
  previous: string | null;
  user: string | undefined;
}

/** OpenAI's `response` object. */
function responseObject(
  f: ResponseFacts,
  status: "in_progress" | "completed" | "failed",
  rest: { output?: unknown[]; usage?: Usage | null; error?: { code: string; message: string } | null } = {},
) {
  return {
    id: f.id,
    object: "response",
    created_at: f.created,
    status,
    ...(status === "completed" ? { completed_at: Math.floor(Date.now() / 1000) } : {}),
    error: rest.error ?? null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model: f.model,
    output: rest.output ?? [],
    parallel_tool_calls: false,
    previous_response_id: f.previous,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: null,
    text: { format: { type: "text" } },
    tool_choice: "none",
    tools: [],
    top_p: null,
    truncation: "disabled",
    usage: rest.usage ?? null,
    ...(f.user !== undefined ? { user: f.user } : {}),
    metadata: {},
  };
}

/** Handles `POST /v1/responses`. */
export function responses(o: OpenAiEndpointOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    let streaming = false;
    let seq = 0;
    const event = (type: string, body: Record<string, unknown>) =>
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...body })}\n\n`);
    try {
      if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
      const parsed = ResponsesRequestSchema.safeParse(await readJson(req, o.maxPayload));
      if (!parsed.success) {
        const i = parsed.error.issues[0]!;
        return openAiError(res, 400, `${i.path.join(".")}: ${i.message}`, "invalid_request_error", "invalid_request", i.path.join(".") || null);
      }
      const body = parsed.data;
      const previous = body.previous_response_id ?? undefined;
      const continued = previous !== undefined ? sessionOfResponseId(previous) : undefined;
      if (previous !== undefined && continued === undefined)
        throw new HttpError(400, "invalid_request", `previous_response_id: ${previous} is not a response of this Claw`, "previous_response_id");
      if (continued !== undefined && body.user !== undefined && continued !== body.user) {
        throw new HttpError(
          400,
          "invalid_request",
          "previous_response_id continues another conversation than the one user names: send one of them",
          "previous_response_id",
        );
      }
      const turn = openAiTurn(req, o, {
        model: body.model,
        text: inputText(body.input),
        param: "input",
        session: continued ?? body.user,
        user: body.user,
        api: "responses",
      });
      const facts: ResponseFacts = {
        id: responseIdFor(turn.id, turn.session),
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        previous: previous ?? null,
        user: body.user,
      };
      const itemId = `msg_${turn.id}`;

      if (!body.stream) {
        const reply = await takeTurn(o, turn);
        return sendJson(
          res,
          200,
          responseObject(facts, "completed", { output: [messageItem(itemId, "completed", reply.text ?? "")], usage: usageObject(reply.metadata) }),
        );
      }

      // streamed: opened by the first piece (a turn that fails before any still gets its status)
      let streamed = "";
      const part = (text: string) => ({ type: "output_text", text, annotations: [], logprobs: [] });
      const at = { item_id: itemId, output_index: 0, content_index: 0 };
      const open = () => {
        if (streaming) return;
        streaming = true;
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
        event("response.created", { response: responseObject(facts, "in_progress") });
        event("response.in_progress", { response: responseObject(facts, "in_progress") });
        event("response.output_item.added", { output_index: 0, item: messageItem(itemId, "in_progress") });
        event("response.content_part.added", { ...at, part: part("") });
      };
      const delta = (piece: string) => {
        open();
        streamed += piece;
        event("response.output_text.delta", { ...at, delta: piece, logprobs: [] });
      };
      const reply = await takeTurn(o, turn, { streaming: () => streaming, onDelta: delta });
      open();
      if (reply.kind === "error") {
        const f = turnFailureAnswer(reply, 400);
        event("response.failed", { response: responseObject(facts, "failed", { error: { code: f.code, message: f.message } }) });
        return void res.end();
      }
      const full = reply.text ?? "";
      // the pieces are best effort (core NATS): send what they did not carry
      const rest = full.startsWith(streamed) ? full.slice(streamed.length) : full;
      if (rest) delta(rest);
      event("response.output_text.done", { ...at, text: full, logprobs: [] });
      event("response.content_part.done", { ...at, part: part(full) });
      event("response.output_item.done", { output_index: 0, item: messageItem(itemId, "completed", full) });
      event("response.completed", {
        response: responseObject(facts, "completed", { output: [messageItem(itemId, "completed", full)], usage: usageObject(reply.metadata) }),
      });
      res.end();
    } catch (e) {
      if (streaming) {
        event("error", { code: e instanceof HttpError ? e.code : "server_error", message: (e as Error).message, param: null });
        return void res.end();
      }
      if (e instanceof HttpError) return openAiHttpError(res, e);
      throw e;
    }
  };
}
