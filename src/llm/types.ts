/**
 * The contract between a session actor and a language model.
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

/** A request for the next reply. */
export interface ModelRequest {
  agent: string;
  session: string;
  history: readonly Turn[];
  message: Envelope;
  /** 1 on the first try of this message, counting redeliveries and in-process retries */
  attempt: number;
  signal: AbortSignal;
}

/** The model's answer. */
export interface ModelResponse {
  text: string;
}

/** A model provider. */
export interface Model {
  readonly id: string;
  complete(req: ModelRequest): Promise<ModelResponse>;
}
