/**
 * Waiting that an abort signal can cut short.
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
