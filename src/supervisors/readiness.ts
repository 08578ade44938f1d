/**
 * Readiness: whether a node can serve traffic now, and if not, why — what
 * `GET /readyz`, `claw status` and the live view say. Liveness (`/healthz`)
 * is not this: a node that waits for NATS is alive and must not be killed,
 * only taken out of a load balancer's rotation.
 */

/** A node's readiness; `reasons` is empty when it is ready. */
export interface Readiness {
  ready: boolean;
  /** e.g. `nats: disconnected`, `jetstream: unavailable`, `jetstream: storage full`, `partitions: not assigned` */
  reasons: string[];
}

/** What readiness is made of. */
export interface ReadinessInputs {
  stopping: boolean;
  /** the bus' problem, if it has one */
  bus: { reason: string } | undefined;
  /** the last applied partition assignment includes this node */
  assigned: boolean;
}

/** Decides readiness (pure). */
export function readiness(i: ReadinessInputs): Readiness {
  const reasons: string[] = [];
  if (i.stopping) reasons.push("node: stopping");
  if (i.bus) reasons.push(i.bus.reason);
  if (!i.assigned) reasons.push("partitions: not assigned");
  return { ready: reasons.length === 0, reasons };
}
