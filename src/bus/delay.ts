/**
 * Waiting that an abort signal can cut short, and waiting with a bound.
 */

/**
 * Resolves after `ms`, or at once when `signal` aborts (it never rejects).
 * The abort listener is removed when the time is up, so a long-lived signal
 * does not collect one listener per wait.
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Settles as `p` does, or rejects with `timedOut()` after `ms` (the timer is cleared either way). */
export function within<T>(p: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
