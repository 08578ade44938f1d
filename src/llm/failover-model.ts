/**
 * A model made of providers in order (an agent's `model`, then its
 * `fallbacks`): an unavailable answer (429, 5xx, timeout, refused connection)
 * is retried with exponential backoff and jitter — honouring `Retry-After`,
 * capped — then the next provider is asked; a refused request (another 4xx)
 * fails the turn at once with the provider's message. Each provider has a
 * circuit breaker: an open circuit is skipped without waiting.
 */
import { backoffDelay } from "../bus/index.js";
import { sleep } from "./sleep.js";
import { ModelError, ProviderRejectedError, ProviderUnavailableError } from "./errors.js";
import type { CircuitBreaker } from "./circuit-breaker.js";
import type { Provider } from "./openai-provider.js";
import type { Model, ModelRequest, ModelResponse } from "./types.js";

/** One provider call, for metrics and spans. */
export interface ProviderCallEvent {
  type: "llm.request";
  provider: string;
  /** `ok`; `unavailable` (retried or failed over); `rejected`; `skipped` (its circuit is open) */
  outcome: "ok" | "unavailable" | "rejected" | "skipped";
  startMs: number;
  durationMs: number;
  usage?: ModelResponse["usage"];
  error?: string;
  /** the turn's span, the parent of this call's */
  traceparent?: string;
  /** the message whose turn this is */
  messageId: string;
  /** the agent whose turn this is (its stored id: `<tenant>/<agent>` for a tenant's) */
  agent?: string;
  /** 1, 2, … per provider within the request */
  attempt: number;
}

/** A provider with its breaker. */
export interface GuardedProvider {
  provider: Provider;
  breaker: CircuitBreaker;
}

/** Options of {@link createFailoverModel}. */
export interface FailoverOptions {
  /** backoff between retries of one provider: `baseMs × 2^n`, jittered, at most `maxMs` */
  backoff?: { baseMs: number; maxMs: number };
  /** the longest `Retry-After` honoured (default 30 s); longer means: ask the next provider */
  maxRetryAfterMs?: number;
  random?: () => number;
  onEvent?: (e: ProviderCallEvent) => void;
}

/** Creates the failover model of `providers`, tried in order. */
export function createFailoverModel(providers: readonly GuardedProvider[], o: FailoverOptions = {}): Model {
  const backoff = o.backoff ?? { baseMs: 500, maxMs: 8_000 };
  const maxRetryAfter = o.maxRetryAfterMs ?? 30_000;
  const random = o.random ?? Math.random;
  const emit = o.onEvent ?? (() => {});
  return {
    id: providers.map((p) => p.provider.name).join(">"),
    async complete(req: ModelRequest): Promise<ModelResponse> {
      const failures: string[] = [];
      const base = { messageId: req.message.id, traceparent: req.traceparent, agent: req.agent };
      for (const { provider, breaker } of providers) {
        for (let attempt = 1; attempt <= provider.maxRetries + 1; attempt++) {
          if (!breaker.tryAcquire()) {
            emit({ type: "llm.request", provider: provider.name, outcome: "skipped", startMs: Date.now(), durationMs: 0, attempt, ...base });
            failures.push(`${provider.name}: circuit open`);
            break;
          }
          const startMs = Date.now();
          try {
            const res = await provider.complete(req);
            breaker.success();
            emit({
              type: "llm.request",
              provider: provider.name,
              outcome: "ok",
              startMs,
              durationMs: Date.now() - startMs,
              usage: res.usage,
              attempt,
              ...base,
            });
            return { ...res, provider: provider.name };
          } catch (e) {
            if (req.signal.aborted) throw e;
            const error = (e as Error).message;
            if (e instanceof ProviderRejectedError) {
              breaker.success(); // it answered: a refusal says nothing about its health
              emit({ type: "llm.request", provider: provider.name, outcome: "rejected", startMs, durationMs: Date.now() - startMs, error, attempt, ...base });
              throw new ModelError("provider_rejected", error, false, { cause: e });
            }
            breaker.failure();
            emit({ type: "llm.request", provider: provider.name, outcome: "unavailable", startMs, durationMs: Date.now() - startMs, error, attempt, ...base });
            failures.push(error);
            const asked = e instanceof ProviderUnavailableError ? e.retryAfterMs : undefined;
            if (attempt > provider.maxRetries || breaker.state === "open" || (asked ?? 0) > maxRetryAfter) break;
            await sleep(Math.max(asked ?? 0, backoffDelay({ ...backoff, factor: 2 }, attempt - 1, random)), req.signal);
          }
        }
      }
      throw new ModelError("providers_unavailable", `no provider answered: ${failures.join("; ")}`, true);
    },
  };
}
