/**
 * Actors: the agent kinds (machines whose states declare their effects) and
 * the one driver, the session host, ingress, the partition runner and the
 * fallback router.
 */
export { assistantMachine, toFailure } from "./assistant.machine.js";
export type { AssistantContext, AssistantEvent, AssistantInput, CurrentTurn, ToolOutcome, TurnFailure } from "./assistant.machine.js";
export { assistantEffects, mediaOfSteps, toolsOf, turnTraceparent } from "./assistant.effects.js";
export { AGENT_KINDS, agentKind, type AgentKind } from "./agent-kinds.js";
export type { AgentDeps } from "./agent-deps.js";
export { driveActor, effectOf, SUSPENDED_TAG, type AgentEffect, type AgentEffects } from "../effect-driver.js";
export {
  createSessionHost,
  sessionLogFields,
  type FailedTurn,
  type MailRequest,
  type MessageLogFields,
  type SessionHost,
  type SessionHostEvent,
  type SessionHostOptions,
  type TurnOutcome,
  type TurnRequest,
} from "./session-host.js";
export { createSessionStore, type SessionStore, type TranscriptEntry } from "./session-store.js";
export { historyInTranscripts, historyWithin, approxTokens, type SessionMemory } from "./session-memory.js";
export { AgentSpecSchema, BindingSchema, defaultAgents, parseSkillRef, type AgentSpec, type Binding } from "./agents.js";
export { admits, bindingMatch, HTTP_CHANNEL, resolveAgent, routingTable, type AgentChoice, type BindingMatch, type Route } from "./agent-routing.js";
export { chatSessionId, parseSessionId, senderSessionId, sessionIdFor, type ParsedSessionId } from "./session-id.js";
export { decideInbound, decideSessionMail, sessionPartition, type IngressDecision, type InboundMessage } from "./ingress.js";
export { startPartitionRunner, type PartitionRunner, type PartitionEvent } from "./partition.runner.js";
export { startRouter, type Router } from "./router.js";
export { AgentSpecError, SnapshotConflictError, SnapshotFormatError, TurnTimeoutError } from "./errors.js";
export { openAgentRegistry, validateAgent, type AgentChecks, type AgentRegistry, type RegisteredAgent } from "./agent-registry.js";
export { servePassivation } from "./passivation-control.js";
export { importConversation, type ImportedConversation, type ImportedExchange, type ImportOutcome } from "./session-import.js";
