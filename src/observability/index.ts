/**
 * Observability: live actor events, metrics, tracing and the audit trail.
 */
export * from "./actor-event-protocol.js";
export { createActorEvents, type ActorEvents } from "./actor-events.js";
export type { InspectableActor } from "./live-actors.js";
export { stateName } from "./state-name.js";
export { createTracing, otlpConfigured, NO_TRACING, type Tracing, type HopSpan } from "./tracing.js";
export { createAudit, type Audit, type AuditRecord } from "./audit.js";
export { createMetrics, type ClawMetrics, type ConsumerBacklog, type MetricsSources } from "./metrics.js";
