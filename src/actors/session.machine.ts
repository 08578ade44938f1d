/**
 * The session actor: one conversation of one agent. Pure: effects are the
 * named actors `model` (think) and `deliver` (publish the reply), supplied by
 * the runner through `machine.provide({ actors })`.
 *
 *   idle ──inbound.received──▶ thinking ──done──▶ replying ──done──▶ idle
 *              │ (already answered)   │ error          │ error
 *              ▼                      ▼                ▼
 *             idle                   idle (failure recorded; the runner retries or dead-letters)
 *
 * Skills attach as an `acting` state between thinking and replying: the
 * session publishes an invocation, its snapshot is persisted there, and the
 * result arrives later as an event in its own mailbox.
 */
import { assign, fromPromise, setup } from "xstate";
import type { Envelope } from "../bus/index.js";
import type { Turn } from "../llm/index.js";

/** Input of a new session actor. */
export interface SessionInput {
  agent: string;
  session: string;
  historyLimit: number;
}

/** A turn's failure, as the runner needs it to decide: retry or dead-letter. */
export interface TurnFailure {
  turnId: string;
  code: string;
  message: string;
  transient: boolean;
}

/** Context of a session actor. Everything here is persisted (keep it small). */
export interface SessionContext {
  agent: string;
  session: string;
  historyLimit: number;
  /** the last N turns, oldest first */
  history: Turn[];
  /** number of inbound messages answered in this session's life */
  turns: number;
  /** id of the last inbound answered: a redelivery of it is absorbed */
  lastTurnId?: string;
  /** the message in progress (only outside `idle`) */
  current?: { envelope: Envelope; attempt: number };
  /** the reply in progress */
  reply?: string;
  failure?: TurnFailure;
}

/** Events a session actor accepts. */
export type SessionEvent = { type: "inbound.received"; envelope: Envelope; attempt: number };

/** Input of the `model` actor. */
export interface ThinkInput {
  agent: string;
  session: string;
  history: Turn[];
  message: Envelope;
  attempt: number;
}

/** Input of the `deliver` actor. */
export interface DeliverInput {
  agent: string;
  session: string;
  inbound: Envelope;
  text: string;
}

/** What the `deliver` actor reports once the reply is durably published. */
export interface DeliveredReply {
  id: string;
  ts: number;
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

function appendHistory(ctx: SessionContext, ...turns: Turn[]): Turn[] {
  const h = ctx.history.concat(turns);
  return h.length > ctx.historyLimit ? h.slice(h.length - ctx.historyLimit) : h;
}

/** The session machine. */
export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
  },
  actors: {
    model: fromPromise<{ text: string }, ThinkInput>(async () => {
      throw new Error("the runner must provide the model actor");
    }),
    deliver: fromPromise<DeliveredReply, DeliverInput>(async () => {
      throw new Error("the runner must provide the deliver actor");
    }),
  },
  guards: {
    alreadyAnswered: ({ context, event }) => context.lastTurnId === event.envelope.id,
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
            actions: assign({
              current: ({ event }) => ({ envelope: event.envelope, attempt: event.attempt }),
              failure: undefined,
              reply: undefined,
            }),
          },
        ],
      },
    },
    thinking: {
      invoke: {
        src: "model",
        input: ({ context }) => ({
          agent: context.agent,
          session: context.session,
          history: context.history,
          message: context.current!.envelope,
          attempt: context.current!.attempt,
        }),
        onDone: { target: "replying", actions: assign({ reply: ({ event }) => event.output.text }) },
        onError: {
          target: "idle",
          actions: assign({
            failure: ({ context, event }) => toFailure(context.current!.envelope.id, event.error),
            current: undefined,
          }),
        },
      },
    },
    replying: {
      invoke: {
        src: "deliver",
        input: ({ context }) => ({
          agent: context.agent,
          session: context.session,
          inbound: context.current!.envelope,
          text: context.reply ?? "",
        }),
        onDone: {
          target: "idle",
          actions: assign(({ context, event }) => {
            const m = context.current!.envelope;
            return {
              history: appendHistory(
                context,
                { role: "user", text: m.text ?? "", id: m.id, ts: m.ts },
                { role: "assistant", text: context.reply ?? "", id: event.output.id, ts: event.output.ts },
              ),
              turns: context.turns + 1,
              lastTurnId: m.id,
              current: undefined,
              reply: undefined,
            };
          }),
        },
        onError: {
          target: "idle",
          actions: assign({
            failure: ({ context, event }) => toFailure(context.current!.envelope.id, event.error),
            current: undefined,
            reply: undefined,
          }),
        },
      },
    },
  },
});
