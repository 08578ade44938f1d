/**
 * The order of one session's work on a node, in memory: operations on its
 * actor run one at a time; user messages are handled one after another, each
 * starting when the previous one has ended; a message that must wait (behind a
 * suspended turn) is woken after each operation, which is when the turn may
 * have moved on; and the requests in progress are counted, so that a session
 * is passivated only when idle. Nothing here does I/O or knows the actor.
 */

/** One session's queue. */
export interface SessionQueue {
  /** runs `op` after every operation queued before it; the messages waiting for the session are woken after it */
  serial<T>(op: () => Promise<T>): Promise<T>;
  /** runs `turn` once the user message queued before it has been handled, whatever its outcome */
  inOrder<T>(turn: () => Promise<T>): Promise<T>;
  /**
   * Resolves true after the next operation ends (or once `timeoutMs` passed,
   * when given), false as soon as one of `signals` aborts. No listener stays
   * behind on the signals (they outlive the wait).
   */
  nextOperation(signals: ReadonlyArray<AbortSignal | undefined>, timeoutMs?: number): Promise<boolean>;
  /** counts a request in while `run` runs: a session with requests in is not idle */
  busy<T>(run: () => Promise<T>): Promise<T>;
  /** true when no request is in and none ended after `cutoff` (ms since epoch) */
  idleSince(cutoff: number): boolean;
  /** resolves when everything queued so far has ended (rejects as the last user message did) */
  settled(): Promise<unknown>;
}

/** Creates an empty queue (nothing runs until something is queued). */
export function createSessionQueue(now: () => number = Date.now): SessionQueue {
  let tail: Promise<unknown> = Promise.resolve();
  let turns: Promise<unknown> = Promise.resolve();
  let waiting: Array<() => void> = [];
  let requests = 0;
  let lastUsed = now();

  const wakeAll = () => {
    const woken = waiting;
    waiting = [];
    for (const wake of woken) wake();
  };

  return {
    serial(op) {
      const r = tail.then(op);
      tail = r.catch(() => undefined).finally(wakeAll);
      return r;
    },
    inOrder(turn) {
      const r = turns.catch(() => undefined).then(turn);
      turns = r;
      return r;
    },
    nextOperation(signals, timeoutMs) {
      if (signals.some((s) => s?.aborted)) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        const end = (woken: boolean) => {
          clearTimeout(timer);
          for (const s of signals) s?.removeEventListener("abort", give);
          resolve(woken);
        };
        const give = () => end(false);
        const timer = timeoutMs === undefined ? undefined : setTimeout(() => end(true), timeoutMs);
        waiting.push(() => end(true));
        for (const s of signals) s?.addEventListener("abort", give, { once: true });
      });
    },
    async busy(run) {
      requests++;
      try {
        return await run();
      } finally {
        requests--;
        lastUsed = now();
      }
    },
    idleSince(cutoff) {
      return requests === 0 && lastUsed <= cutoff;
    },
    settled() {
      return Promise.all([tail, turns]);
    },
  };
}
