/**
 * The node's capabilities an agent kind's effects are given: publishing on
 * the bus, the agents' specs and models, the skills, tracing, streaming.
 */
import type { ChatAddress, Envelope, JsPublish } from "../bus/index.js";
import type { Model } from "../llm/index.js";
import type { Tracing } from "../observability/tracing.js";
import type { SkillCatalog } from "../skills/index.js";
import type { AgentSpec } from "./agents.js";

/** A tool call held back for a human's decision (an agent's `approve`). */
export interface ApprovalRequest {
  agent: string;
  session: string;
  skill: string;
  input: unknown;
  /** the call it holds back: the same on a turn run again, so it is asked once */
  callId: string;
  /** the session's mailbox: where the decision goes */
  replyTo: string;
  /** the chat of the turn: where the request is announced */
  address: ChatAddress;
  /** the turn's message (the announcement answers it) */
  messageId: string;
  /** how long it waits before it is denied as `timed out` */
  timeoutMs: number;
}

/** Where a turn asks for approvals (approvals/). */
export interface ApprovalGate {
  /** stores and announces the request, once per call; resolves with the approval's id */
  request(r: ApprovalRequest): Promise<{ id: string }>;
  /** the turn no longer waits for these (interrupted): they are withdrawn, best effort */
  withdraw(ids: string[]): Promise<void>;
}

/** What an agent kind's effects may use of the node they run on. */
export interface AgentDeps {
  /** publishes to JetStream (the bus' shared-inbox publisher) */
  js: JsPublish;
  nodeId: string;
  partitions: number;
  /** the agent's current spec (the registry can change it between turns) */
  agent(id: string): AgentSpec | undefined;
  /** the agent's model (its provider chain); throws a permanent ModelError when it is not configured here */
  model(agent: AgentSpec): Model;
  skills: SkillCatalog;
  /** append every turn to `CLAW_TRANSCRIPTS` (default true) */
  transcripts?: boolean;
  tracing?: Tracing;
  /** streams pieces of a reply in progress to whoever waits for it (core NATS, best effort) */
  delta?(to: ChatAddress, replyTo: string, seq: number, text: string): void;
  /** asks humans to approve calls to the skills an agent's `approve` lists (absent: such calls fail) */
  approvals?: ApprovalGate;
  /** stops skill invocations in progress (an interrupted turn's tools) */
  cancelTools?(invocationIds: string[]): void;
  /** the agent's memories recalled for a message (`memory.recall`), as a block for its instructions */
  recall?(agent: AgentSpec, message: Envelope, signal?: AbortSignal): Promise<string | undefined>;
  /** crash-test fault injection: `session.after-reply` */
  failpoint?(name: "session.after-reply"): void;
}
