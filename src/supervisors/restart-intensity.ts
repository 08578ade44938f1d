/**
 * Restart intensity, as in OTP: at most `maxRestarts` restarts within
 * `windowMs`; one more means the child is beyond repair here and the failure
 * escalates to the parent.
 */

/** The limit. */
export interface RestartIntensity {
  maxRestarts: number;
  windowMs: number;
}

/** 5 restarts in 30 s. */
export function defaultRestartIntensity(): RestartIntensity {
  return { maxRestarts: 5, windowMs: 30_000 };
}

/**
 * Records a restart at `now` into `history` (timestamps, oldest first) and says
 * whether it is still allowed. Pure: returns the new history.
 */
export function recordRestart(history: readonly number[], now: number, limit: RestartIntensity): { allowed: boolean; history: number[] } {
  const recent = history.filter((t) => t > now - limit.windowMs).concat(now);
  return { allowed: recent.length <= limit.maxRestarts, history: recent };
}
