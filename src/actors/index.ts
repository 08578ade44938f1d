/**
 * Actors: the session machine and its host, ingress, the partition runner and
 * the fallback router.
 */
export { sessionMachine, toFailure } from "./session.machine.js";
export type { SessionContext, SessionEvent, SessionInput, TurnFailure, DeliveredReply } from "./session.machine.js";
export { createSessionHost, type SessionHost, type SessionHostOptions, type SessionHostEvent, type TurnOutcome } from "./session-host.js";
export { createSessionStore, type SessionStore } from "./session-store.js";
export { AgentSpecSchema, defaultAgents, resolveAgent, sessionIdFor, type AgentSpec } from "./agents.js";
export { decideInbound, decideSessionMail, sessionPartition, type IngressDecision, type InboundMessage } from "./ingress.js";
export { createPartitionRunner, type PartitionRunner, type PartitionEvent } from "./partition.runner.js";
export { startRouter, type Router } from "./router.js";
export { SnapshotConflictError, TurnTimeoutError } from "./errors.js";
export { PASSIVATE_SUBJECT, servePassivation } from "./passivation-control.js";
