/**
 * The contract between a session actor and a language model: a request (the
 * history, the message, the tool steps of the turn so far, the tools it may
 * call) and an answer (text, or tool calls).
 */
import type { Envelope } from "../bus/index.js";

/** One entry of a session's bounded history. */
export interface Turn {
  role: "user" | "assistant";
  text: string;
  /** id of the envelope this turn came from */
  id: string;
  ts: number;
}

/** A tool the model may call: a skill, named by its id (mapped to a function name by the provider). */
export interface ToolSpec {
  /** the skill id, e.g. `time.now` */
  name: string;
  description: string;
  /** JSON Schema of the arguments (an object schema) */
  parameters: Record<string, unknown>;
}

/** A call the model asked for. */
export interface ToolCall {
  /** Claw's id of the call (also the skill invocation's id) */
  id: string;
  /** the provider's id of the call (OpenAI `tool_call.id`), echoed back with its result */
  providerId?: string;
  /** skill id */
  name: string;
  /** the arguments as the model wrote them (JSON text) */
  arguments: string;
}

/** A step of the turn in progress: the model's calls, or one call's result. */
export type TurnStep = { kind: "calls"; text?: string; calls: ToolCall[] } | { kind: "result"; callId: string; name: string; ok: boolean; content: string };

/** A request for the next reply. */
export interface ModelRequest {
  agent: string;
  session: string;
  /** the agent's system prompt */
  system?: string;
  /** a summary of turns older than `history` */
  summary?: string;
  history: readonly Turn[];
  message: Envelope;
  /** the tool calls and results of this turn so far, oldest first */
  steps: readonly TurnStep[];
  /** the tools it may call now (empty: answer in text) */
  tools: readonly ToolSpec[];
  /** 1 on the first try of this message, counting redeliveries and in-process retries */
  attempt: number;
  signal: AbortSignal;
  /** receives the reply's text as it streams (providers that stream call it; others do not) */
  onDelta?: (text: string) => void;
  /** the turn's span (W3C traceparent): provider calls are its children */
  traceparent?: string;
}

/** Tokens a request used, as the provider counted them. */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

/** The model's answer: text, or tool calls (with optional text beside them). */
export interface ModelResponse {
  text: string;
  toolCalls?: Array<Omit<ToolCall, "id">>;
  usage?: Usage;
  /** which provider answered (after failover) */
  provider?: string;
}

/** A model provider (or a chain of them with failover). */
export interface Model {
  readonly id: string;
  complete(req: ModelRequest): Promise<ModelResponse>;
}
