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
 *   model.failed, tools.failed, reply.failed ─▶ idle (failure recorded: the host retries or dead-letters)
 */
import { assign, setup } from "xstate";
import type { Envelope } from "../bus/index.js";
import type { ToolCall, TurnStep, Usage } from "../llm/index.js";
import { appendHistory, appendRefs, type SessionMemory } from "./session-memory.js";
import { SUSPENDED_TAG } from "../effect-driver.js";
import type { InboundInterrupt, InboundReceived, MailEvent, ToolResultEvent, TurnContext, TurnFailure, TurnInput } from "./turn.js";

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
  /** calls to publish (in `dispatching`), then the calls still waited for (in `waiting`) */
  calls: ToolCall[];
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
  | { type: "tools.dispatched"; immediate: ToolOutcome[] }
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
              { target: "waiting", actions: assign({ current: ({ context, event }) => recordOutcomes(context.current!, event.immediate) }) },
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
              actions: assign(({ context, event }) => {
                const old = context.current!.envelope;
                return {
                  history: appendHistory(
                    context,
                    { role: "user", text: old.text ?? "", id: old.id, ts: old.ts },
                    {
                      role: "assistant",
                      text: "(interrupted by the next message before its tools answered)",
                      id: `${old.id}:interrupted`,
                      ts: event.envelope.ts,
                    },
                  ),
                  historyRefs: undefined,
                  lastTurnId: old.id,
                  cancelling: context.current!.calls.map((c) => c.id),
                  current: fresh(event.envelope, event.attempt),
                };
              }),
            },
          },
        },
      },
    },
    cancelling: {
      meta: { effect: "cancel" },
      on: { "tools.cancelled": { target: "thinking", actions: assign({ cancelling: undefined }) } },
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
