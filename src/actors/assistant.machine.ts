/**
 * The assistant: a session agent that answers with a language model and may
 * call tools (skills) on the way. Pure: it holds no effects. Each state that
 * needs one names it in its `meta.effect` — `think` (call the model), `act`
 * (publish the tool calls), `deliver` (publish the reply) — and the session
 * host's driver performs it and sends the outcome back as an event. A state
 * tagged `suspended` waits for mail: the host persists the snapshot, acks the
 * message and returns; the tools' results arrive later in the session's own
 * mailbox (perhaps on another node) and resume the turn.
 *
 *   idle ─inbound.received─▶ thinking ─model.replied─▶ replying ─reply.published─▶ idle
 *                               │  ▲ model.called
 *                               ▼  │ (all results in, or past their deadline)
 *                       acting: dispatching ─tools.dispatched─▶ waiting [suspended]
 *                                                  tool.result / tool.deadline / inbound.interrupt
 *   acting.waiting ─inbound.interrupt─▶ cancelling (its calls cancelled) ─tools.cancelled─▶ thinking (the new message)
 *
 * A call to a skill the agent's `approve` lists is not published: `act` asks for
 * a human's decision and the turn waits in `acting.approving` [suspended] for
 * it (`approval.decided` mail) — approved, the call goes out from
 * `acting.releasing` (effect `release`) and is waited for like any other;
 * denied, the model reads `denied by <by>: <reason>` as its result.
 *   model.failed, tools.failed, reply.failed ─▶ idle (failure recorded: the host retries or dead-letters)
 */
import { assign, setup } from "xstate";
import type { Envelope } from "../bus/index.js";
import type { ToolCall, TurnStep, Usage } from "../llm/index.js";
import { appendHistory, appendRefs, type SessionMemory } from "./session-memory.js";
import { SUSPENDED_TAG } from "../effect-driver.js";
import type { ApprovalDecidedEvent, InboundInterrupt, InboundReceived, MailEvent, ToolResultEvent, TurnContext, TurnFailure, TurnInput } from "./turn.js";

/** Input of a new session actor. */
export type AssistantInput = TurnInput;

/** The turn in progress. */
export interface CurrentTurn {
  envelope: Envelope;
  attempt: number;
  /** tool rounds taken so far */
  round: number;
  /** the tool calls and results of the turn, oldest first */
  steps: TurnStep[];
  /** calls to publish (in `dispatching`), then the calls still waited for (in `waiting`, `approving`) */
  calls: ToolCall[];
  /** calls held back for a human's decision (in `approving`), each with its approval's id */
  approvals?: PendingApproval[];
  /** approved calls to publish now (in `releasing`) */
  release?: string[];
}

/** A call the agent's `approve` holds back until a human decides. */
export interface PendingApproval {
  /** the approval's id (random: what a human names to decide) */
  id: string;
  callId: string;
}

/** Context of an assistant session. Everything here is persisted (keep it small). */
export interface AssistantContext extends SessionMemory, TurnContext {
  agent: string;
  session: string;
  /** number of inbound messages answered in this session's life */
  turns: number;
  /** id of the last inbound answered: a redelivery of it is absorbed */
  lastTurnId?: string;
  /** the message in progress (only outside `idle`) */
  current?: CurrentTurn;
  /** the reply in progress */
  reply?: string;
  /** tokens the turn's model calls used so far, as the providers counted them */
  usage?: Usage;
  /** calls an interrupting message left behind, to be cancelled (in `cancelling`) */
  cancelling?: string[];
  /** approvals an interrupting message left undecided, to be withdrawn (in `cancelling`) */
  withdrawing?: string[];
  failure?: TurnFailure;
}

/** A tool result as the machine records it (the model reads `content`). */
export type ToolOutcome = Omit<ToolResultEvent, "type">;

/** Events an assistant accepts: messages, mail, and the outcomes of the effects the host performs. */
export type AssistantEvent =
  | InboundReceived
  /** a new message while the turn waits for tools, for an agent that lets it interrupt */
  | InboundInterrupt
  | { type: "model.replied"; text: string; summary?: SessionMemory["summary"]; usage?: Usage }
  | { type: "model.called"; calls: ToolCall[]; text?: string; summary?: SessionMemory["summary"]; usage?: Usage }
  | { type: "model.failed"; failure: TurnFailure }
  | { type: "tools.dispatched"; immediate: ToolOutcome[]; approvals?: PendingApproval[] }
  | { type: "tools.released" }
  | { type: "tools.failed"; failure: TurnFailure }
  | { type: "tools.cancelled" }
  | MailEvent
  | { type: "reply.published"; id: string; ts: number; transcriptSeq?: number }
  | { type: "reply.failed"; failure: TurnFailure };

/** The result step of a call, for the model. */
function resultStep(c: ToolCall, o: Pick<ToolOutcome, "ok" | "content">): TurnStep {
  return { kind: "result", callId: c.id, name: c.name, ok: o.ok, content: o.content };
}

/** Records outcomes of awaited calls; the turn goes back to thinking once none is awaited. */
function recordOutcomes(cur: CurrentTurn, outcomes: ToolOutcome[]): CurrentTurn {
  const byId = new Map(outcomes.map((o) => [o.callId, o]));
  const done = cur.calls.filter((c) => byId.has(c.id));
  return { ...cur, steps: [...cur.steps, ...done.map((c) => resultStep(c, byId.get(c.id)!))], calls: cur.calls.filter((c) => !byId.has(c.id)) };
}

const timedOut = (callIds: string[]): ToolOutcome[] =>
  callIds.map((callId) => ({ callId, ok: false, content: "error (timeout): the tool did not answer before its deadline" }));

/** What the model reads of a denied call. */
export const deniedContent = (by: string, reason: string | undefined): string => `denied by ${by}${reason ? `: ${reason}` : ""}`;

/** The pending approval a decision is for, if the turn waits for it. */
function pendingOf(cur: CurrentTurn | undefined, e: ApprovalDecidedEvent): PendingApproval | undefined {
  return cur?.approvals?.find((a) => a.id === e.id && a.callId === e.callId);
}

/** The turn once decision `e` is taken: the approval is no longer pending; a denied call has its result. */
function decided(cur: CurrentTurn, e: ApprovalDecidedEvent): CurrentTurn {
  const approvals = cur.approvals!.filter((a) => a.id !== e.id);
  if (e.approved) return { ...cur, approvals, release: [...(cur.release ?? []), e.callId] };
  return { ...recordOutcomes(cur, [{ callId: e.callId, ok: false, content: deniedContent(e.by, e.reason) }]), approvals };
}

/** The interrupted turn's history, and what its end leaves to cancel and withdraw. */
function interrupted(context: AssistantContext, event: InboundInterrupt): Partial<AssistantContext> {
  const old = context.current!.envelope;
  return {
    history: appendHistory(
      context,
      { role: "user", text: old.text ?? "", id: old.id, ts: old.ts },
      { role: "assistant", text: "(interrupted by the next message before its tools answered)", id: `${old.id}:interrupted`, ts: event.envelope.ts },
    ),
    historyRefs: undefined,
    lastTurnId: old.id,
    cancelling: context.current!.calls.filter((c) => !context.current!.approvals?.some((a) => a.callId === c.id)).map((c) => c.id),
    withdrawing: context.current!.approvals?.map((a) => a.id),
    current: fresh(event.envelope, event.attempt),
  };
}

const fresh = (envelope: Envelope, attempt: number): CurrentTurn => ({ envelope, attempt, round: 0, steps: [], calls: [] });

/** The turn's usage with one more call's added. */
function addUsage(a: Usage | undefined, b: Usage | undefined): Usage | undefined {
  if (!b) return a;
  return { promptTokens: (a?.promptTokens ?? 0) + b.promptTokens, completionTokens: (a?.completionTokens ?? 0) + b.completionTokens };
}

/** The assistant machine. */
export const assistantMachine = setup({
  types: {
    context: {} as AssistantContext,
    events: {} as AssistantEvent,
    input: {} as AssistantInput,
  },
  guards: {
    alreadyAnswered: ({ context, event }) => event.type === "inbound.received" && context.lastTurnId === event.envelope.id,
    awaited: ({ context, event }) => event.type === "tool.result" && (context.current?.calls.some((c) => c.id === event.callId) ?? false),
    lastAwaited: ({ context, event }) => event.type === "tool.result" && context.current?.calls.length === 1 && context.current.calls[0]!.id === event.callId,
    anyPastDeadline: ({ context, event }) => event.type === "tool.deadline" && (context.current?.calls.some((c) => event.callIds.includes(c.id)) ?? false),
    allPastDeadline: ({ context, event }) => event.type === "tool.deadline" && (context.current?.calls.every((c) => event.callIds.includes(c.id)) ?? false),
    allImmediate: ({ context, event }) =>
      event.type === "tools.dispatched" && (context.current?.calls.every((c) => event.immediate.some((o) => o.callId === c.id)) ?? false),
    anotherMessage: ({ context, event }) => event.type === "inbound.interrupt" && context.current?.envelope.id !== event.envelope.id,
    approvalsAsked: ({ event }) => event.type === "tools.dispatched" && (event.approvals?.length ?? 0) > 0,
    approvalsLeft: ({ context }) => (context.current?.approvals?.length ?? 0) > 0,
    callsLeft: ({ context }) => (context.current?.calls.length ?? 0) > 0,
    approved: ({ context, event }) => event.type === "approval.decided" && event.approved && pendingOf(context.current, event) !== undefined,
    denied: ({ context, event }) => event.type === "approval.decided" && !event.approved && pendingOf(context.current, event) !== undefined,
  },
  actions: {
    failed: assign(({ event }) => ({ failure: (event as { failure: TurnFailure }).failure, current: undefined, reply: undefined, usage: undefined })),
  },
}).createMachine({
  id: "session",
  context: ({ input }) => ({
    agent: input.agent,
    session: input.session,
    historyLimit: input.historyLimit,
    history: [],
    turns: 0,
  }),
  initial: "idle",
  states: {
    idle: {
      on: {
        "inbound.received": [
          { guard: "alreadyAnswered" },
          {
            target: "thinking",
            actions: assign({ current: ({ event }) => fresh(event.envelope, event.attempt), failure: undefined, reply: undefined, usage: undefined }),
          },
        ],
      },
    },
    thinking: {
      meta: { effect: "think" },
      on: {
        "model.replied": {
          target: "replying",
          actions: assign({
            reply: ({ event }) => event.text,
            summary: ({ context, event }) => event.summary ?? context.summary,
            usage: ({ context, event }) => addUsage(context.usage, event.usage),
          }),
        },
        "model.called": {
          target: "acting",
          actions: assign({
            current: ({ context, event }) => ({
              ...context.current!,
              round: context.current!.round + 1,
              steps: [...context.current!.steps, { kind: "calls", text: event.text, calls: event.calls }],
              calls: event.calls,
            }),
            summary: ({ context, event }) => event.summary ?? context.summary,
            usage: ({ context, event }) => addUsage(context.usage, event.usage),
          }),
        },
        "model.failed": { target: "idle", actions: "failed" },
      },
    },
    acting: {
      initial: "dispatching",
      states: {
        dispatching: {
          meta: { effect: "act" },
          on: {
            // every call answered at once (unknown tools, bad arguments): straight back to the model
            "tools.dispatched": [
              {
                guard: "allImmediate",
                target: "#session.thinking",
                actions: assign({ current: ({ context, event }) => recordOutcomes(context.current!, event.immediate) }),
              },
              {
                guard: "approvalsAsked",
                target: "approving",
                actions: assign({ current: ({ context, event }) => ({ ...recordOutcomes(context.current!, event.immediate), approvals: event.approvals }) }),
              },
              { target: "waiting", actions: assign({ current: ({ context, event }) => recordOutcomes(context.current!, event.immediate) }) },
            ],
            "tools.failed": { target: "#session.idle", actions: "failed" },
          },
        },
        // calls held back until a human decides (and any others of the round, out already)
        approving: {
          tags: [SUSPENDED_TAG],
          on: {
            "approval.decided": [
              { guard: "approved", target: "releasing", actions: assign({ current: ({ context, event }) => decided(context.current!, event) }) },
              { guard: "denied", target: "decided", actions: assign({ current: ({ context, event }) => decided(context.current!, event) }) },
            ],
            "tool.result": { guard: "awaited", actions: assign({ current: ({ context, event }) => recordOutcomes(context.current!, [event]) }) },
            "tool.deadline": {
              guard: "anyPastDeadline",
              actions: assign({ current: ({ context, event }) => recordOutcomes(context.current!, timedOut(event.callIds)) }),
            },
            "inbound.interrupt": {
              guard: "anotherMessage",
              target: "#session.cancelling",
              actions: assign(({ context, event }) => interrupted(context, event)),
            },
          },
        },
        // a call denied: on to what the turn still waits for
        decided: {
          always: [{ guard: "approvalsLeft", target: "approving" }, { guard: "callsLeft", target: "waiting" }, { target: "#session.thinking" }],
        },
        // approved calls go out now
        releasing: {
          meta: { effect: "release" },
          on: {
            "tools.released": [
              { guard: "approvalsLeft", target: "approving", actions: assign({ current: ({ context }) => ({ ...context.current!, release: undefined }) }) },
              { target: "waiting", actions: assign({ current: ({ context }) => ({ ...context.current!, release: undefined }) }) },
            ],
            "tools.failed": { target: "#session.idle", actions: "failed" },
          },
        },
        waiting: {
          tags: [SUSPENDED_TAG],
          on: {
            "tool.result": [
              {
                guard: "lastAwaited",
                target: "#session.thinking",
                actions: assign({ current: ({ context, event }) => recordOutcomes(context.current!, [event]) }),
              },
              { guard: "awaited", actions: assign({ current: ({ context, event }) => recordOutcomes(context.current!, [event]) }) },
            ],
            "tool.deadline": [
              {
                guard: "allPastDeadline",
                target: "#session.thinking",
                actions: assign({ current: ({ context, event }) => recordOutcomes(context.current!, timedOut(event.callIds)) }),
              },
              { guard: "anyPastDeadline", actions: assign({ current: ({ context, event }) => recordOutcomes(context.current!, timedOut(event.callIds)) }) },
            ],
            // the waiting turn ends unanswered (its question stays in the history); its tools are
            // cancelled and the new message is the turn now
            "inbound.interrupt": {
              guard: "anotherMessage",
              target: "#session.cancelling",
              actions: assign(({ context, event }) => interrupted(context, event)),
            },
          },
        },
      },
    },
    cancelling: {
      meta: { effect: "cancel" },
      on: { "tools.cancelled": { target: "thinking", actions: assign({ cancelling: undefined, withdrawing: undefined }) } },
    },
    replying: {
      meta: { effect: "deliver" },
      on: {
        "reply.published": {
          target: "idle",
          actions: assign(({ context, event }) => {
            const m = context.current!.envelope;
            return {
              history: appendHistory(
                context,
                { role: "user", text: m.text ?? "", id: m.id, ts: m.ts },
                { role: "assistant", text: context.reply ?? "", id: event.id, ts: event.ts },
              ),
              historyRefs: appendRefs(context, event.transcriptSeq),
              turns: context.turns + 1,
              lastTurnId: m.id,
              current: undefined,
              reply: undefined,
              usage: undefined,
            };
          }),
        },
        "reply.failed": { target: "idle", actions: "failed" },
      },
    },
  },
});
