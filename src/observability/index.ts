/**
 * Observability: live actor events and the machine registry.
 */
export * from "./actor-events.js";
export { createTracing, otlpConfigured, NO_TRACING, type Tracing, type HopSpan } from "./tracing.js";
export { createAudit, type Audit, type AuditRecord } from "./audit.js";
