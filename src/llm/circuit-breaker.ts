/**
 * A circuit breaker per provider: after `failures` consecutive failures it
 * opens and the provider is skipped without waiting; after `cooldownMs` one
 * request may probe it (half-open): success closes the circuit, failure
 * opens it again. The clock is injected.
 */

/** The breaker's state. */
export type CircuitState = "closed" | "open" | "half-open";

/** Options of {@link createCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** consecutive failures that open the circuit (default 5) */
  failures?: number;
  /** ms an open circuit waits before a probe (default 30 s) */
  cooldownMs?: number;
  now?: () => number;
  /** told when the circuit opens or closes */
  onChange?: (state: CircuitState) => void;
}

/** A circuit breaker. */
export interface CircuitBreaker {
  readonly state: CircuitState;
  /** may a request go now? (an open circuit past its cool-down lets one probe through) */
  tryAcquire(): boolean;
  success(): void;
  failure(): void;
}

/** Creates a closed circuit breaker. */
export function createCircuitBreaker(o: CircuitBreakerOptions = {}): CircuitBreaker {
  const threshold = o.failures ?? 5;
  const cooldown = o.cooldownMs ?? 30_000;
  const now = o.now ?? Date.now;
  let state: CircuitState = "closed";
  let consecutive = 0;
  let openedAt = 0;
  let probing = false;
  const set = (s: CircuitState) => {
    if (s !== state) {
      state = s;
      o.onChange?.(s);
    }
  };
  return {
    get state() {
      return state;
    },
    tryAcquire() {
      if (state === "closed") return true;
      if (state === "open" && now() - openedAt >= cooldown) set("half-open");
      if (state === "half-open" && !probing) {
        probing = true;
        return true;
      }
      return false;
    },
    success() {
      consecutive = 0;
      probing = false;
      set("closed");
    },
    failure() {
      probing = false;
      consecutive++;
      if (state === "half-open" || consecutive >= threshold) {
        openedAt = now();
        set("open");
      }
    },
  };
}
