/**
 * How a node stops: gracefully within `CLAW_DRAIN_MS` (its parts' stops,
 * last started first) plus a grace for handing back, cancelling and closing
 * — and when that runs late (NATS gone or stalled), at once: what must not
 * outlive the process is killed, and JetStream redelivers what was in flight
 * after its ack wait. A node past a restart intensity stops the same way,
 * bounded, then exits non-zero for its process manager.
 */
import { delay } from "../bus/index.js";
import type { Logger } from "../log.js";

/** What a stop may take beyond `CLAW_DRAIN_MS`: handing back and cancelling what still runs, closing the connection. */
export const STOP_GRACE_MS = 5_000;

/** How long a node that must exit (restart intensity exceeded) gives its graceful stop. */
export const FATAL_STOP_MS = 10_000;

/** What {@link boundedStop} stops. */
export interface Stoppable {
  /** the graceful stop, meant to be done by `deadline` */
  stop(deadline: number): Promise<void>;
  /** the stop ran late: close what must not outlive the process, now */
  kill(): Promise<void>;
}

/** Options of {@link boundedStop}. */
export interface BoundedStopOptions {
  drainMs: number;
  /** what the stop may take beyond `drainMs` (default {@link STOP_GRACE_MS}) */
  graceMs?: number;
  log: Logger;
  /** why a late stop was late (the bus' problem, if it has one) */
  lateReason?: () => string | undefined;
  /** told once the stop is done, forced or not */
  onStopped?: () => void;
}

/** The node's stop: done once (later calls get the same promise), and done within `drainMs` + `graceMs` whatever NATS does. */
export function boundedStop(parts: Stoppable, o: BoundedStopOptions): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  const graceMs = o.graceMs ?? STOP_GRACE_MS;
  const run = async () => {
    const deadline = Date.now() + o.drainMs;
    // bounded whatever NATS does (gone, stalled): what is not handed back by then JetStream redelivers after its ack wait
    const outcome = await Promise.race([parts.stop(deadline).then(() => "stopped" as const), delay(o.drainMs + graceMs).then(() => "late" as const)]);
    if (outcome === "late") {
      o.log.warn(
        { drainMs: o.drainMs, graceMs, bus: o.lateReason?.() },
        "the stop did not finish in time (NATS unavailable?): closing without waiting; JetStream redelivers what was in flight",
      );
      await parts.kill();
    }
    o.onStopped?.();
    o.log.info(outcome === "late" ? "stopped (forced)" : "stopped");
  };
  return () => (stopped ??= run());
}

/** Past a restart intensity: stop within {@link FATAL_STOP_MS} (NATS may be gone), then exit non-zero for the process manager. */
export function exitOnEscalation(log: Logger, stop: () => Promise<void>): (what: string, err: unknown) => void {
  return (what, err) => {
    log.fatal({ child: what, err }, "restart intensity exceeded: stopping the node");
    process.stderr.write(`claw: ${what} failed too often (${(err as Error)?.message ?? String(err)}); exiting so that a process manager restarts the node\n`);
    const bounded = new Promise((r) => setTimeout(r, FATAL_STOP_MS).unref());
    void Promise.race([stop(), bounded]).finally(() => process.exit(1));
  };
}
