/**
 * Exponential backoff with jitter, and the one place that decides which NATS
 * errors are worth retrying (unreachable / leader election) and which are a
 * "no" from the server.
 */
import { errors as coreErrors, RequestError } from "@nats-io/transport-node";
import { JetStreamApiError } from "@nats-io/jetstream";
import { delay } from "./delay.js";

/** Backoff policy: `base × factor^attempt`, capped, with full jitter in [½, 1]. */
export interface BackoffPolicy {
  baseMs: number;
  factor: number;
  maxMs: number;
}

/** 1 s base, ×2, at most 30 s (the data path's redelivery policy). */
export function defaultBackoff(): BackoffPolicy {
  return { baseMs: 1_000, factor: 2, maxMs: 30_000 };
}

/** The delay before retry number `attempt` (0-based). `random` is injectable for tests. */
export function backoffDelay(p: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const raw = Math.min(p.maxMs, p.baseMs * Math.pow(p.factor, Math.max(0, attempt)));
  return Math.round(raw / 2 + (raw / 2) * random());
}

/**
 * True when a NATS failure is transient: a timeout, no responders (JetStream
 * not reachable, e.g. while a stream leader is elected), a 503, or the
 * connection being down. Anything else is the server saying no.
 */
export function isTransientNatsError(e: unknown): boolean {
  if (e instanceof coreErrors.TimeoutError) return true;
  if (e instanceof coreErrors.ClosedConnectionError || e instanceof coreErrors.DrainingConnectionError) return false;
  if (e instanceof coreErrors.ConnectionError) return true;
  if (e instanceof RequestError) return true;
  if (e instanceof JetStreamApiError) return e.status === 503 || e.status === 408 || e.status >= 500;
  // JetStreamNotEnabled (no responders on the API/stream subject) is not exported as a class by the client
  if (e instanceof Error && e.name === "JetStreamNotEnabled") return true;
  return false;
}

/** {@link isTransientNatsError} of a failure or of what it wraps (a `PublishError` carries the client's error as its cause). */
export function isTransientFailure(e: unknown): boolean {
  return isTransientNatsError(e) || (e instanceof Error && e.cause !== undefined && isTransientNatsError(e.cause));
}

/** JetStream's "insufficient resources" (10023) and "insufficient storage resources available" (10047). */
const STORAGE_FULL_CODES = new Set([10023, 10047]);

/**
 * True when JetStream refused a write for lack of space: the server's or the
 * account's store limit is reached (nats-server answers 503 "insufficient
 * resources"). Transient — space returns as work queues are acked or an
 * operator frees it — but not worth a tight retry loop.
 */
export function isStorageFull(e: unknown): boolean {
  // a PublishError carries the server's answer as its cause
  const api = e instanceof JetStreamApiError ? e : e instanceof Error && e.cause instanceof JetStreamApiError ? e.cause : undefined;
  return api !== undefined && STORAGE_FULL_CODES.has(api.code);
}

/**
 * JetStream's answers while a cluster forms or elects, by `err_code`: no
 * suitable peers for placement (10005: fewer servers up than the replicas
 * asked for), the system temporarily unavailable (10008), not the leader
 * (10009), incomplete results (10004), insufficient resources (10023),
 * JetStream not enabled (10076) or not enabled for the account (10039: the
 * server has not finished starting it), a stream or consumer offline
 * (10118, 10119).
 */
const FORMING_CODES = new Set([10004, 10005, 10008, 10009, 10023, 10039, 10076, 10118, 10119]);

/**
 * True when a failure means "JetStream is not ready yet" — what a node, a
 * restore or an upgrade meets when it starts together with its NATS cluster:
 * the forming codes above, and the client's own transient failures (a
 * timeout, no responders on the API, a connection not up yet). A server
 * that refuses for good (a conflicting stream, replicas a single server
 * cannot have, a store too small to reserve a stream's bytes) is not
 * forming: that is said at once.
 */
export function isJetStreamForming(e: unknown): boolean {
  const api = e instanceof JetStreamApiError ? e : e instanceof Error && e.cause instanceof JetStreamApiError ? e.cause : undefined;
  if (api) return FORMING_CODES.has(api.code);
  return isTransientNatsError(e);
}

/** Options of {@link withRetry}. */
export interface RetryOptions {
  /** give up after this long (default 30 s; `Infinity`: until it works or `signal` aborts) */
  totalMs?: number;
  policy?: BackoffPolicy;
  signal?: AbortSignal;
  /** which failures are worth another try (default {@link isTransientNatsError}) */
  transient?: (e: unknown) => boolean;
  /** told before each wait: the failure, the attempt (0-based) and how long until the next */
  onRetry?: (e: unknown, attempt: number, delayMs: number) => void;
}

/** Runs `fn`, retrying transient NATS errors with backoff until `totalMs` has passed. */
export async function withRetry<T>(fn: () => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const policy = o.policy ?? { baseMs: 100, factor: 2, maxMs: 2_000 };
  const deadline = Date.now() + (o.totalMs ?? 30_000);
  const transient = o.transient ?? isTransientNatsError;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!transient(e) || Date.now() >= deadline || o.signal?.aborted) throw e;
      const wait = Math.min(backoffDelay(policy, attempt), Math.max(0, deadline - Date.now()));
      o.onRetry?.(e, attempt, wait);
      await delay(wait, o.signal);
    }
  }
}
