/**
 * One HTTP call to a node, with the SDK's retry rules: a failure that may
 * pass (no answer, 429, 503 and other 5xx) is tried again after an
 * exponential backoff with jitter, or after what `Retry-After` asks; an
 * answer with `x-should-retry: false` never is. A call that is not safe to
 * send twice (no idempotency key) is tried again only when the node said it
 * did not take it: a 429, a 503 `unavailable`/`storage_full` (the bus could
 * not take it), or a connection refused before anything was sent.
 */
import { ClawError, errorOf } from "./errors.js";

/** Options of a client: where the node is, the credential, and how hard to try. */
export interface ClawOptions {
  /** the node's HTTP address (default `http://127.0.0.1:8080`) */
  baseUrl?: string;
  /** an API key (`claw_…`) or a JWT, sent as `Authorization: Bearer` */
  apiKey?: string;
  /** how many times a failed call is tried again (default 3) */
  retries?: number;
  /** how long one attempt may take, in ms (default 30 000; an invoke's own `timeoutMs` extends it) */
  timeoutMs?: number;
  /** the first backoff, in ms (default 250): doubled each retry, with jitter */
  backoffMs?: number;
  /** the longest wait between two attempts, in ms (default 10 000; a longer `Retry-After` is honoured up to 60 s) */
  maxBackoffMs?: number;
  /** headers sent with every call */
  headers?: Record<string, string>;
  /** a `fetch` of your own (default: the global one) */
  fetch?: typeof fetch;
}

/** Whether a call may be sent again: `safe` when a second copy does no harm, `refused` when only what the node did not take may be. */
export type RetryPolicy = "safe" | "refused";

/** One call. */
export interface Call {
  method: "GET" | "POST" | "DELETE";
  /** the path, its parameters already encoded */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  retry: RetryPolicy;
  /** this call's attempt timeout, in ms (default: the client's) */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What an answer is read as: JSON, text, the bare stream (the attempt timeout stops once the answer has begun), or nothing. */
type Reading = "json" | "text" | "stream" | "none";
type Read<R extends Reading> = R extends "json" ? unknown : R extends "text" ? string : R extends "stream" ? Response : undefined;

const MAX_RETRY_AFTER_MS = 60_000;
/** 503 codes of a request the bus could not take: nothing was done, so any call may be sent again */
const NOT_TAKEN = new Set(["unavailable", "storage_full"]);

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** The transport every resource calls through. */
export class Transport {
  readonly baseUrl: string;
  private readonly o: Required<Pick<ClawOptions, "retries" | "timeoutMs" | "backoffMs" | "maxBackoffMs">> & ClawOptions;

  constructor(o: ClawOptions = {}) {
    this.baseUrl = (o.baseUrl ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
    this.o = { retries: 3, timeoutMs: 30_000, backoffMs: 250, maxBackoffMs: 10_000, ...o };
  }

  /** Sends `call`, trying again as its policy allows; resolves with the answer read as `reading`, or throws {@link ClawError}. */
  async send<R extends Reading>(call: Call, reading: R): Promise<Read<R>> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt(call, reading);
      } catch (e) {
        // a delete whose first answer was lost: the 404 of its retry says the first one took it
        if (attempt > 0 && call.method === "DELETE" && e instanceof ClawError && e.status === 404 && reading === "none") return undefined as Read<R>;
        if (!(e instanceof ClawError) || call.signal?.aborted || attempt >= this.o.retries || !retryable(e, call.retry)) throw e;
        await sleep(this.delay(attempt, e.retryAfterMs), call.signal);
      }
    }
  }

  /** How long to wait before attempt `attempt + 1`: what the node asked, else exponential with jitter (half to all of it). */
  private delay(attempt: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, MAX_RETRY_AFTER_MS) + Math.random() * 100;
    const full = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** attempt);
    return full / 2 + (Math.random() * full) / 2;
  }

  private url(call: Call): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    return `${this.baseUrl}${call.path}${qs ? `?${qs}` : ""}`;
  }

  private async attempt<R extends Reading>(call: Call, reading: R): Promise<Read<R>> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), call.timeoutMs ?? this.o.timeoutMs);
    const signal = call.signal ? AbortSignal.any([call.signal, timeout.signal]) : timeout.signal;
    const headers: Record<string, string> = { accept: "application/json", ...this.o.headers, ...call.headers };
    if (this.o.apiKey) headers.authorization = `Bearer ${this.o.apiKey}`;
    if (call.body !== undefined) headers["content-type"] = "application/json";
    try {
      let res: Response;
      try {
        res = await (this.o.fetch ?? fetch)(this.url(call), {
          method: call.method,
          headers,
          body: call.body === undefined ? undefined : JSON.stringify(call.body),
          signal,
        });
      } catch (e) {
        if (call.signal?.aborted) throw e;
        if (timeout.signal.aborted)
          throw new ClawError(0, "timeout", `no answer from ${this.baseUrl} within ${call.timeoutMs ?? this.o.timeoutMs} ms`, { cause: e });
        const refused = (e as { cause?: { code?: string } }).cause?.code === "ECONNREFUSED";
        throw new ClawError(0, refused ? "connection_refused" : "network_error", `${call.method} ${call.path}: ${(e as Error).message}`, { cause: e });
      }
      if (!res.ok) throw await failure(res);
      if (reading === "stream") return res as Read<R>;
      const text = await res.text();
      if (reading === "text") return text as Read<R>;
      if (reading === "none") return undefined as Read<R>;
      return (text === "" ? undefined : JSON.parse(text)) as Read<R>;
    } catch (e) {
      // a body cut off mid-way is no answer
      if (e instanceof ClawError || call.signal?.aborted) throw e;
      if (timeout.signal.aborted) throw new ClawError(0, "timeout", `the answer from ${this.baseUrl} did not end within the timeout`, { cause: e });
      throw new ClawError(0, "network_error", `${call.method} ${call.path}: ${(e as Error).message}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The error of a failed answer, with whether the node advised against trying again. */
async function failure(res: Response): Promise<ClawError> {
  const text = await res.text().catch(() => "");
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: the text is the message */
  }
  const e = errorOf(res.status, res.statusText, body, res.headers.get("retry-after"));
  if (res.headers.get("x-should-retry") === "false") noRetry.add(e);
  return e;
}

/** Errors whose answer said `x-should-retry: false`. */
const noRetry = new WeakSet<ClawError>();

/** Whether an attempt that failed with `e` may be made again under `policy`. */
export function retryable(e: ClawError, policy: RetryPolicy): boolean {
  if (noRetry.has(e)) return false;
  // not taken: nothing happened on the node
  if (e.status === 429 || e.code === "connection_refused" || (e.status === 503 && NOT_TAKEN.has(e.code))) return true;
  if (policy === "refused") return false;
  return e.status === 0 || e.status === 408 || e.status >= 500;
}
