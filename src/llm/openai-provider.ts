/**
 * An OpenAI-compatible chat completions provider, through the `openai`
 * package: OpenAI itself, a llama.cpp / vLLM / Ollama server, any gateway —
 * whatever answers `POST <baseURL>/chat/completions`. It streams (pieces of
 * text go to `onDelta`), passes the agent's skills as functions (`time.now`
 * ⇄ `time__now`: OpenAI function names allow no dots), and classifies every
 * failure once: unavailable (429, 5xx, timeout, connection) or rejected.
 */
import type OpenAI from "openai";
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import { ProviderRejectedError, ProviderUnavailableError } from "./errors.js";
import type { ModelRequest, ModelResponse, ToolCall } from "./types.js";

/** What a provider is configured with (`CLAW_CONFIG` `providers.<name>`, key resolved). */
export interface OpenAIProviderConfig {
  baseURL: string;
  model: string;
  apiKey?: string;
  timeoutMs: number;
  maxRetries: number;
}

/** One provider. */
export interface Provider {
  readonly name: string;
  /** retries of an unavailable answer before the next provider */
  readonly maxRetries: number;
  complete(req: ModelRequest): Promise<ModelResponse>;
}

/** The OpenAI function name of a skill id: `.` → `__` (function names are `[A-Za-z0-9_-]{1,64}`). */
export function toFunctionName(skillId: string): string {
  return skillId.replaceAll(".", "__");
}

/** The skill id of a function name: the tool offered under that name, else `__` → `.`. */
export function fromFunctionName(name: string, offered: readonly { name: string }[]): string {
  return offered.find((t) => toFunctionName(t.name) === name)?.name ?? name.replaceAll("__", ".");
}

/** `Retry-After` in ms (seconds or an HTTP date), if the provider sent one. */
function retryAfterMs(headers: Headers | undefined): number | undefined {
  const v = headers?.get("retry-after");
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The `openai` package, loaded once a provider is configured (a node without one never loads it). */
let sdk: Promise<typeof OpenAI> | undefined;
const loadOpenAI = (): Promise<typeof OpenAI> => (sdk ??= import("openai").then((m) => m.default));

/** Classifies what the SDK (`OpenAI`, the loaded package) threw: unavailable (worth retrying elsewhere) or rejected (final). */
export function classifyProviderError(OpenAI: typeof import("openai").default, provider: string, e: unknown): Error {
  if (e instanceof OpenAI.APIConnectionTimeoutError) return new ProviderUnavailableError(provider, "timed out", undefined, undefined, { cause: e });
  if (e instanceof OpenAI.APIUserAbortError) return e;
  if (e instanceof OpenAI.APIConnectionError)
    return new ProviderUnavailableError(provider, `cannot connect: ${(e.cause as Error)?.message ?? e.message}`, undefined, undefined, { cause: e });
  if (e instanceof OpenAI.APIError) {
    const status = e.status ?? 0;
    if (status === 429 || status >= 500 || status === 408) {
      return new ProviderUnavailableError(provider, `${status} ${e.message}`, status, retryAfterMs(e.headers as Headers | undefined), { cause: e });
    }
    return new ProviderRejectedError(provider, status, e.message, { cause: e });
  }
  return new ProviderUnavailableError(provider, (e as Error)?.message ?? String(e), undefined, undefined, { cause: e });
}

/** The conversation in OpenAI's message format. */
export function chatMessages(req: ModelRequest): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = [];
  const system = [req.system, req.summary ? `Summary of the conversation so far: ${req.summary}` : undefined].filter(Boolean).join("\n\n");
  if (system) out.push({ role: "system", content: system });
  for (const t of req.history) out.push({ role: t.role, content: t.text });
  const media = req.message.media.map((m) => `[${m.type}${m.name ? ` ${m.name}` : ""}${m.url ? ` ${m.url}` : ""}]`).join(" ");
  out.push({ role: "user", content: [req.message.text ?? "", media].filter(Boolean).join("\n") });
  // the provider's own call ids go back with the results; Claw's stand in where a provider gave none
  const providerIds = new Map<string, string>();
  for (const step of req.steps) {
    if (step.kind === "calls") {
      for (const c of step.calls) providerIds.set(c.id, c.providerId ?? c.id);
      out.push({
        role: "assistant",
        content: step.text ?? null,
        tool_calls: step.calls.map((c) => ({
          id: providerIds.get(c.id)!,
          type: "function" as const,
          function: { name: toFunctionName(c.name), arguments: c.arguments },
        })),
      });
    } else {
      out.push({ role: "tool", tool_call_id: providerIds.get(step.callId) ?? step.callId, content: step.content });
    }
  }
  return out;
}

/** Folds a streamed answer together. */
function accumulate(): { add(chunk: ChatCompletionChunk, onDelta?: (t: string) => void): void; result(tools: readonly { name: string }[]): ModelResponse } {
  let text = "";
  const calls = new Map<number, { id?: string; name: string; arguments: string }>();
  let usage: ModelResponse["usage"];
  return {
    add(chunk, onDelta) {
      if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
      const delta = chunk.choices[0]?.delta;
      if (!delta) return;
      if (delta.content) {
        text += delta.content;
        onDelta?.(delta.content);
      }
      for (const t of delta.tool_calls ?? []) {
        const c = calls.get(t.index) ?? { name: "", arguments: "" };
        if (t.id) c.id = t.id;
        if (t.function?.name) c.name += t.function.name;
        if (t.function?.arguments) c.arguments += t.function.arguments;
        calls.set(t.index, c);
      }
    },
    result(tools) {
      const toolCalls = [...calls.entries()]
        .sort(([a], [b]) => a - b)
        .map(([, c]): Omit<ToolCall, "id"> => ({ providerId: c.id, name: fromFunctionName(c.name, tools), arguments: c.arguments }));
      return { text, ...(toolCalls.length ? { toolCalls } : {}), usage };
    },
  };
}

/** Creates a provider named `name`. */
export function createOpenAIProvider(name: string, cfg: OpenAIProviderConfig): Provider {
  // retries are the failover model's: it knows the other providers and the circuit
  const sdk = loadOpenAI();
  const client = sdk.then((OpenAI) => new OpenAI({ baseURL: cfg.baseURL, apiKey: cfg.apiKey ?? "not-needed", timeout: cfg.timeoutMs, maxRetries: 0 }));
  // loaded as the provider is configured, so that its first turn does not wait for it; a failure shows on that turn
  client.catch(() => undefined);
  return {
    name,
    maxRetries: cfg.maxRetries,
    async complete(req) {
      const tools: ChatCompletionTool[] = req.tools.map((t) => ({
        type: "function",
        function: { name: toFunctionName(t.name), description: t.description, parameters: t.parameters },
      }));
      const acc = accumulate();
      try {
        const stream = await (
          await client
        ).chat.completions.create(
          {
            model: cfg.model,
            messages: chatMessages(req),
            ...(tools.length ? { tools } : {}),
            stream: true,
            stream_options: { include_usage: true },
          },
          { signal: req.signal },
        );
        for await (const chunk of stream) acc.add(chunk, req.onDelta);
      } catch (e) {
        throw classifyProviderError(await sdk, name, e);
      }
      return acc.result(req.tools);
    },
  };
}
