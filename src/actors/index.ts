/**
 * Actors: the agent kinds (machines whose states declare their effects) and
 * the one driver, the session host, ingress, the partition runner and the
 * fallback router.
 */
export { assistantMachine } from "./assistant.machine.js";
export type { AssistantContext, AssistantEvent, AssistantInput, CurrentTurn, PendingApproval, ToolOutcome } from "./assistant.machine.js";
export { assistantEffects, mediaOfSteps, toolsOf } from "./assistant.effects.js";
export { AGENT_KINDS, agentKind } from "./agent-kinds.js";
export {
  defineAgentKind,
  mailEvent,
  toFailure,
  turnTraceparent,
  SUSPENDED_TAG,
  type AgentKind,
  type AgentKindDefinition,
  type InboundInterrupt,
  type InboundReceived,
  type MailEvent,
  type TurnContext,
  type TurnDriver,
  type TurnFailure,
  type TurnInput,
  type TurnMachine,
} from "./turn.js";
export type { AgentDeps, ApprovalGate, ApprovalRequest } from "./agent-deps.js";
export { driveActor, effectOf, type Effect, type Effects, type EffectsOf } from "../effect-driver.js";
export { startSessionHost, type SessionHost, type SessionHostOptions } from "./session-host.js";
export {
  sessionLogFields,
  type FailedTurn,
  type MailRequest,
  type MessageLogFields,
  type SessionHostEvent,
  type TurnOutcome,
  type TurnRequest,
} from "./session-requests.js";
export { createSessionStore, type SessionStore, type TranscriptEntry } from "./session-store.js";
export { historyInTranscripts, historyWithin, approxTokens, type SessionMemory } from "./session-memory.js";
export { ASK_METADATA, askDepthOf, AskMetadataSchema, type AskMetadata } from "./ask-metadata.js";
export { tenantOfSubject } from "./agent-tenant.js";
export {
  AgentSpecSchema,
  agentIdTenant,
  BindingSchema,
  defaultAgents,
  localAgentId,
  parseSkillRef,
  qualifiedAgentId,
  qualifyAgent,
  type AgentSpec,
  type Binding,
} from "./agents.js";
export { admits, bindingMatch, HTTP_CHANNEL, resolveAgent, routingTable, type AgentChoice, type BindingMatch, type Route } from "./agent-routing.js";
export { chatSessionId, parseSessionId, senderSessionId, sessionIdFor, type ParsedSessionId } from "./session-id.js";
export { decideInbound, decideSessionMail, sessionPartition, type IngressDecision, type InboundMessage } from "./ingress.js";
export { startPartitionRunner, type PartitionRunner, type PartitionEvent } from "./partition.runner.js";
export { ADMIT_ALL, type TurnAdmission, type TurnAdmissionRequest, type TurnAdmitted } from "./turn-admission.js";
export { startRouter, type Router } from "./router.js";
export { AgentSpecError, SnapshotConflictError, SnapshotFormatError, TurnTimeoutError } from "./errors.js";
export { openAgentRegistry, validateAgent, type AgentChecks, type AgentRegistry, type RegisteredAgent } from "./agent-registry.js";
export { servePassivation } from "./passivation-control.js";
export { importConversation, keepsConversation, type ImportedConversation, type ImportedExchange, type ImportOutcome } from "./session-import.js";
