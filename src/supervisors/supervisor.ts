/**
 * A supervisor of long-lived loops (one-for-one): a child that fails is
 * restarted with exponential backoff; too many restarts in the window
 * escalate to the parent through `onEscalate`.
 */
import { backoffDelay, delay, type BackoffPolicy } from "../bus/index.js";
import { recordRestart, type RestartIntensity } from "./restart-intensity.js";

/** A supervised child: runs until `signal` aborts, or throws to be restarted. */
export interface ChildSpec {
  name: string;
  run(signal: AbortSignal): Promise<void>;
}

/** Lifecycle facts of supervised children. */
export type SupervisorEvent =
  | { type: "child.failed"; child: string; error: string; restartInMs: number }
  | { type: "child.escalated"; child: string; error: string };

/** Options of {@link startSupervisor}. */
export interface SupervisorOptions {
  intensity: RestartIntensity;
  backoff: BackoffPolicy;
  onEvent?: (e: SupervisorEvent) => void;
  /** called once when a child exceeds the restart intensity; the supervisor stops */
  onEscalate: (child: string, error: unknown) => void;
}

/** A running supervisor. */
export interface Supervisor {
  /** stop every child and wait for them */
  stop(): Promise<void>;
}

/** Starts `children` under one supervisor. */
export function startSupervisor(children: ChildSpec[], o: SupervisorOptions): Supervisor {
  const stopping = new AbortController();
  const emit = o.onEvent ?? (() => {});
  const runs = children.map(async (child) => {
    let history: number[] = [];
    for (let attempt = 0; !stopping.signal.aborted; attempt++) {
      try {
        await child.run(stopping.signal);
        if (stopping.signal.aborted) return;
        throw new Error("exited without being stopped");
      } catch (e) {
        if (stopping.signal.aborted) return;
        const r = recordRestart(history, Date.now(), o.intensity);
        history = r.history;
        if (!r.allowed) {
          emit({ type: "child.escalated", child: child.name, error: String(e) });
          stopping.abort();
          o.onEscalate(child.name, e);
          return;
        }
        const restartInMs = backoffDelay(o.backoff, history.length - 1);
        emit({ type: "child.failed", child: child.name, error: String(e), restartInMs });
        await delay(restartInMs, stopping.signal);
      }
    }
  });
  return {
    async stop() {
      stopping.abort();
      await Promise.all(runs);
    },
  };
}

