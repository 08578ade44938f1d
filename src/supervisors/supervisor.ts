/**
 * A supervisor of long-lived loops (one-for-one): a child that fails is
 * restarted with exponential backoff; too many restarts in the window
 * escalate to the parent through `onEscalate`.
 *
 * Children that stand on something outside them (the bus) name it as their
 * `dependency`: a child that fails while the dependency is down waits until
 * it is back and is then restarted without counting against its restart
 * intensity — an outage of NATS is not a defect of the heartbeat loop, and
 * must not stop the node (as `rest_for_one` restarts dependants in OTP
 * rather than blaming them).
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
  /** failed while its dependency is down: restarted once the dependency is back, not counted */
  | { type: "child.waiting"; child: string; error: string; reason: string }
  | { type: "child.escalated"; child: string; error: string };

/** Something the children need, which can be away for a while (the bus). */
export interface SupervisorDependency {
  /** why it is unavailable now, or undefined when it is available */
  problem(): { reason: string } | undefined;
  /** resolves when it is available again (or `signal` aborts) */
  whenAvailable(signal: AbortSignal): Promise<void>;
}

/** Options of {@link startSupervisor}. */
export interface SupervisorOptions {
  intensity: RestartIntensity;
  backoff: BackoffPolicy;
  dependency?: SupervisorDependency;
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
    while (!stopping.signal.aborted) {
      try {
        await child.run(stopping.signal);
        if (stopping.signal.aborted) return;
        throw new Error("exited without being stopped");
      } catch (e) {
        if (stopping.signal.aborted) return;
        const down = o.dependency?.problem();
        if (down) {
          emit({ type: "child.waiting", child: child.name, error: String(e), reason: down.reason });
          await o.dependency!.whenAvailable(stopping.signal);
          continue;
        }
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
