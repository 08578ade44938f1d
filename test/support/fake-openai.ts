/**
 * A fake OpenAI-compatible server: real HTTP on a free loopback port,
 * `POST /v1/chat/completions` in OpenAI's wire format (JSON or streamed SSE
 * chunks ending with `data: [DONE]`), driven by a script the test sets: an
 * answer, tool calls, an HTTP error with headers (429 + Retry-After), or a
 * request that hangs. Every request is recorded. `POST /v1/embeddings`
 * answers vectors from `embed`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** A chat completions request as the fake received it. */
export interface FakeRequest {
  model: string;
  messages: Array<{
    role: string;
    content: string | null;
    tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>;
    tool_call_id?: string;
  }>;
  tools?: Array<{ type: string; function: { name: string; description?: string; parameters: unknown } }>;
  stream?: boolean;
  authorization?: string;
}

/** What the fake answers one request with. */
export type FakeAnswer =
  | { text: string; usage?: { prompt: number; completion: number }; /** streamed: this long between pieces (default: all at once) */ pieceDelayMs?: number }
  | { toolCalls: Array<{ name: string; arguments: string }>; text?: string }
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { hang: true };

/** A running fake. */
export interface FakeOpenAI extends AsyncDisposable {
  /** `http://127.0.0.1:<port>/v1` */
  readonly baseURL: string;
  readonly requests: FakeRequest[];
  /** how the next requests are answered (default: echo the last user message) */
  answer: (req: FakeRequest, n: number) => FakeAnswer;
  /** `POST /v1/embeddings`: the vector of one input (default: letters counted into 26 dimensions) */
  embed: (text: string) => number[];
  /** the inputs `/v1/embeddings` was asked to embed, in order */
  readonly embedded: string[];
  close(): Promise<void>;
}

/** The last user message's text. */
export function lastUser(req: FakeRequest): string {
  return [...req.messages].reverse().find((m) => m.role === "user")?.content ?? "";
}

function sse(res: ServerResponse, chunks: unknown[], delayMs = 0): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  if (delayMs === 0) {
    for (const c of chunks) res.write(`data: ${JSON.stringify(c)}\n\n`);
    res.end("data: [DONE]\n\n");
    return;
  }
  // a model writing slowly: one chunk, then a pause
  void (async () => {
    for (const c of chunks) {
      if (res.destroyed) return;
      res.write(`data: ${JSON.stringify(c)}\n\n`);
      await new Promise((r) => setTimeout(r, delayMs));
    }
    res.end("data: [DONE]\n\n");
  })();
}

function answerWith(res: ServerResponse, req: FakeRequest, a: FakeAnswer, n: number): void {
  const id = `chatcmpl-${n}`;
  const created = Math.floor(Date.now() / 1000);
  if ("hang" in a) return; // never answers: the client's timeout decides
  if ("status" in a) {
    const body = JSON.stringify(a.body ?? { error: { message: `fake error ${a.status}`, type: "server_error", code: null } });
    res.writeHead(a.status, { "content-type": "application/json", ...a.headers });
    res.end(body);
    return;
  }
  const usage =
    "usage" in a && a.usage
      ? { prompt_tokens: a.usage.prompt, completion_tokens: a.usage.completion, total_tokens: a.usage.prompt + a.usage.completion }
      : { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
  const toolCalls =
    "toolCalls" in a
      ? a.toolCalls.map((c, i) => ({ index: i, id: `call_${n}_${i}`, type: "function", function: { name: c.name, arguments: c.arguments } }))
      : undefined;
  const text = a.text ?? "";
  if (req.stream) {
    const base = { id, object: "chat.completion.chunk", created, model: req.model };
    const chunks: unknown[] = [{ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] }];
    // the text in pieces, as a real server streams it
    for (const piece of text.match(/.{1,8}/gs) ?? []) chunks.push({ ...base, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] });
    if (toolCalls) {
      for (const t of toolCalls) {
        // name first, then the arguments in two halves
        const half = Math.ceil(t.function.arguments.length / 2);
        chunks.push({
          ...base,
          choices: [
            {
              index: 0,
              delta: { tool_calls: [{ index: t.index, id: t.id, type: "function", function: { name: t.function.name, arguments: "" } }] },
              finish_reason: null,
            },
          ],
        });
        chunks.push({
          ...base,
          choices: [
            { index: 0, delta: { tool_calls: [{ index: t.index, function: { arguments: t.function.arguments.slice(0, half) } }] }, finish_reason: null },
          ],
        });
        chunks.push({
          ...base,
          choices: [{ index: 0, delta: { tool_calls: [{ index: t.index, function: { arguments: t.function.arguments.slice(half) } }] }, finish_reason: null }],
        });
      }
    }
    chunks.push({ ...base, choices: [{ index: 0, delta: {}, finish_reason: toolCalls ? "tool_calls" : "stop" }] });
    chunks.push({ ...base, choices: [], usage });
    return sse(res, chunks, "pieceDelayMs" in a ? a.pieceDelayMs : 0);
  }
  const message = {
    role: "assistant",
    content: toolCalls ? (a.text ?? null) : text,
    ...(toolCalls ? { tool_calls: toolCalls.map(({ index: _i, ...t }) => t) } : {}),
  };
  const body = JSON.stringify({
    id,
    object: "chat.completion",
    created,
    model: req.model,
    choices: [{ index: 0, message, finish_reason: toolCalls ? "tool_calls" : "stop" }],
    usage,
  });
  res.writeHead(200, { "content-type": "application/json" });
  res.end(body);
}

/** Starts the fake. */
export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const requests: FakeRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const fake = {
    answer: (req: FakeRequest): FakeAnswer => ({ text: `echo: ${lastUser(req)}` }),
    embed: (text: string) => {
      const v = new Array<number>(26).fill(0);
      for (const ch of text.toLowerCase()) if (ch >= "a" && ch <= "z") v[ch.charCodeAt(0) - 97]! += 1;
      return v;
    },
  } as FakeOpenAI;
  const embedded: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      if (req.method === "POST" && req.url?.endsWith("/embeddings")) {
        const { input, model } = JSON.parse(body) as { input: string | string[]; model: string };
        const inputs = Array.isArray(input) ? input : [input];
        embedded.push(...inputs);
        const data = inputs.map((t, index) => ({ object: "embedding", index, embedding: fake.embed(t) }));
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ object: "list", data, model, usage: { prompt_tokens: 1, total_tokens: 1 } }));
      }
      if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
        res.writeHead(404, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}`, type: "invalid_request_error" } }));
      }
      const parsed = { ...(JSON.parse(body) as FakeRequest), authorization: req.headers.authorization };
      requests.push(parsed);
      const a = fake.answer(parsed, requests.length);
      if ("hang" in a) hanging.add(res);
      answerWith(res, parsed, a, requests.length);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const close = async () => {
    for (const r of hanging) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return Object.assign(fake, {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    embedded,
    close,
    [Symbol.asyncDispose]: close,
  });
}
