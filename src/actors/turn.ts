/**
 * The contract between the session host and an agent kind: what a kind's
 * machine must accept and keep so that any host, partition runner and live
 * view can run and show it without knowing which kind it is.
 *
 * A kind's machine
 * - is created with {@link TurnInput} and keeps {@link TurnContext}'s fields
 *   in its context (`lastTurnId` once a message is answered, `current` while
 *   a turn is in progress, `failure` when it ended without an answer);
 * - takes a user message as {@link InboundReceived}; if it has states tagged
 *   {@link SUSPENDED_TAG} (its turn waits for mail), it also takes
 *   {@link InboundInterrupt} (an agent with `interrupt`) and the
 *   {@link MailEvent}s it waits for — the host sends mail only when the
 *   machine `can()` take it;
 * - declares its effects on its states (`meta: { effect }`), performed by the
 *   one driver (effect-driver.ts) with the effects {@link defineAgentKind} binds.
 */
import type { AnyActorRef, AnyStateMachine, ContextFrom, EventFromLogic, InputFrom } from "xstate";
import type { z } from "zod";
import { hopTraceparent, type Envelope, type SessionMail } from "../bus/index.js";
import { driveActor, SUSPENDED_TAG, type EffectsOf } from "../effect-driver.js";
import type { AgentDeps } from "./agent-deps.js";

export { SUSPENDED_TAG };

/** Input of a new session actor, whatever its kind. */
export interface TurnInput {
  agent: string;
  session: string;
  historyLimit: number;
}

/** A turn's failure, as the host needs it to decide: retry or dead-letter. */
export interface TurnFailure {
  turnId: string;
  code: string;
  message: string;
  transient: boolean;
}

/** Classifies a thrown error into a failure record (errors may carry `code` and `transient`). */
export function toFailure(turnId: string, error: unknown): TurnFailure {
  const e = error as { code?: unknown; transient?: unknown; message?: unknown } | undefined;
  return {
    turnId,
    code: typeof e?.code === "string" ? e.code : "error",
    message: typeof e?.message === "string" ? e.message : String(error),
    // unknown errors are treated as transient: retried, then dead-lettered after max deliveries
    transient: typeof e?.transient === "boolean" ? e.transient : true,
  };
}

/** The context fields the host reads, in every kind's context (persisted with it). */
export interface TurnContext {
  /** id of the last user message answered: a redelivery of it is absorbed */
  lastTurnId?: string;
  /** the turn in progress (outside the idle state): the message mail resumes */
  current?: { envelope: Envelope };
  /** why the last turn ended without an answer (the host retries or dead-letters it) */
  failure?: TurnFailure;
}

/** A user message for the session. */
export interface InboundReceived {
  type: "inbound.received";
  envelope: Envelope;
  /** the delivery attempt (1 on first delivery) */
  attempt: number;
}

/** A user message while the turn is suspended, for an agent that lets it interrupt (`interrupt`). */
export interface InboundInterrupt {
  type: "inbound.interrupt";
  envelope: Envelope;
  attempt: number;
}

/** A tool's result, as the machine records it (the model reads `content`). */
export interface ToolResultEvent {
  type: "tool.result";
  callId: string;
  ok: boolean;
  content: string;
}

/** The reminder of a deadline: the calls named that have not answered time out. */
export interface ToolDeadlineEvent {
  type: "tool.deadline";
  callIds: string[];
}

/** A human's decision on a call held back for approval: approved, it runs; denied, the model reads why. */
export interface ApprovalDecidedEvent {
  type: "approval.decided";
  /** the approval's id */
  id: string;
  callId: string;
  approved: boolean;
  by: string;
  reason?: string;
}

/** Mail as a machine receives it. */
export type MailEvent = ToolResultEvent | ToolDeadlineEvent | ApprovalDecidedEvent;

/** The event a piece of mail is for a session machine. */
export function mailEvent(mail: SessionMail): MailEvent {
  if (mail.type === "tool.deadline") return { type: "tool.deadline", callIds: mail.callIds };
  if (mail.type === "approval.decided")
    return { type: "approval.decided", id: mail.approval, callId: mail.callId, approved: mail.approved, by: mail.by, reason: mail.reason };
  const content = mail.ok ? JSON.stringify(mail.output ?? null) : `error (${mail.error?.code ?? "error"}): ${mail.error?.message ?? "the tool failed"}`;
  return { type: "tool.result", callId: mail.callId, ok: mail.ok, content };
}

/** The span of a message's session turn: a child of its ingress span. */
export function turnTraceparent(inbound: Envelope): string | undefined {
  return inbound.trace.traceparent ? hopTraceparent(inbound.trace.traceparent, inbound.id, "session") : undefined;
}

/**
 * `M` when it meets the contract (its context has {@link TurnContext}'s
 * fields, it is created from {@link TurnInput} and takes
 * {@link InboundReceived}), else `never` — so a kind that does not is a
 * compile error where it is defined.
 */
export type TurnMachine<M extends AnyStateMachine> =
  ContextFrom<M> extends TurnContext ? (TurnInput extends InputFrom<M> ? (InboundReceived extends EventFromLogic<M> ? M : never) : never) : never;

/**
 * Runs a session actor's effects until it settles or suspends (see
 * `driveActor`): rejects only when `signal` aborts, leaving the actor mid-turn.
 */
export type TurnDriver = (actor: AnyActorRef, signal: AbortSignal, onEffect?: (name: string, ms: number) => void) => Promise<"settled" | "suspended">;

/** One kind of agent, as the host, the registry and the live view know it. */
export interface AgentKind {
  readonly name: string;
  readonly description: string;
  /** its machine (a {@link TurnMachine}); the live view draws its sessions with it */
  readonly machine: AnyStateMachine;
  /** what it reads from an agent's `options`, checked when the agent is registered (none: it takes no options) */
  readonly options?: z.ZodType;
  /** its effects bound to a node: the driver of its sessions' turns */
  driver(deps: AgentDeps): TurnDriver;
}

/** What a kind is made of: a machine meeting the contract and the effects its states declare, typed against it. */
export interface AgentKindDefinition<M extends AnyStateMachine> {
  name: string;
  description: string;
  machine: M;
  options?: z.ZodType;
  effects(deps: AgentDeps): EffectsOf<M>;
}

/** An agent kind from its machine and effects (checked against each other and the contract by the compiler). */
export function defineAgentKind<M extends AnyStateMachine>(def: AgentKindDefinition<M> & { machine: TurnMachine<M> }): AgentKind {
  return {
    name: def.name,
    description: def.description,
    machine: def.machine,
    options: def.options,
    driver(deps) {
      const effects = def.effects(deps);
      return (actor, signal, onEffect) => driveActor(actor, effects, signal, onEffect);
    },
  };
}
