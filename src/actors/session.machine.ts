/**
 * The session actor: one conversation of one agent. Pure: it holds no
 * effects. The session host performs the effect of the state the actor is in
 * — `thinking`: call the model; `replying`: publish the reply — and sends the
 * outcome back as an event, so the statechart is the whole protocol:
 *
 *   idle ──inbound.received──▶ thinking ──model.replied──▶ replying ──reply.published──▶ idle
 *              │ (already answered)   │ model.failed           │ reply.failed
 *              ▼                      ▼                        ▼
 *             idle                   idle (failure recorded; the host retries or dead-letters)
 *
 * Effects as events rather than invoked promise actors: a turn creates no
 * child actors (cheaper, and nothing in memory must outlive a node), and the
 * same shape carries skills, whose results arrive later in the session's own
 * mailbox — possibly on another node: an `acting` state between thinking and
 * replying, left on `skill.result`.
 */
import { assign, setup } from "xstate";
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
  /**
   * `CLAW_TRANSCRIPTS` sequences of the turns in `history`, oldest first, when
   * every one of them was transcribed: then the store keeps the history there
   * instead of in every snapshot. Cleared by a turn without a transcript.
   */
  historyRefs?: number[];
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

/** Events a session actor accepts: a message, and the outcomes of the effects the host performs. */
export type SessionEvent =
  | { type: "inbound.received"; envelope: Envelope; attempt: number }
  | { type: "model.replied"; text: string }
  | { type: "model.failed"; failure: TurnFailure }
  | { type: "reply.published"; id: string; ts: number; transcriptSeq?: number }
  | { type: "reply.failed"; failure: TurnFailure };

/** What the host passes the model in `thinking`. */
export interface ThinkInput {
  agent: string;
  session: string;
  history: Turn[];
  message: Envelope;
  attempt: number;
}

/** What the host publishes in `replying`. */
export interface DeliverInput {
  agent: string;
  session: string;
  inbound: Envelope;
  text: string;
}

/** What the host reports once the reply is durably published. */
export interface DeliveredReply {
  id: string;
  ts: number;
  /** where the turn's transcript entry is in `CLAW_TRANSCRIPTS` (absent when transcripts are off) */
  transcriptSeq?: number;
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

/** The transcript sequences of the turns kept (one entry per turn: ⌈limit / 2⌉), or none if this turn has none. */
function appendRefs(ctx: SessionContext, seq: number | undefined): number[] | undefined {
  if (seq === undefined) return undefined;
  const refs = (ctx.historyRefs ?? []).concat(seq);
  const keep = Math.ceil(ctx.historyLimit / 2);
  return refs.length > keep ? refs.slice(refs.length - keep) : refs;
}

/** The model's input for the turn in progress (state `thinking`). */
export function thinkInput(c: SessionContext): ThinkInput {
  return { agent: c.agent, session: c.session, history: c.history, message: c.current!.envelope, attempt: c.current!.attempt };
}

/** True when `historyRefs` name every turn in `history` (so the history can be rebuilt from the transcripts). */
export function historyInTranscripts(c: Pick<SessionContext, "history" | "historyRefs">): boolean {
  return c.historyRefs !== undefined && c.historyRefs.length * 2 >= c.history.length;
}

/** The reply to publish for the turn in progress (state `replying`). */
export function deliverInput(c: SessionContext): DeliverInput {
  return { agent: c.agent, session: c.session, inbound: c.current!.envelope, text: c.reply ?? "" };
}

/** The session machine. */
export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
  },
  guards: {
    alreadyAnswered: ({ context, event }) => event.type === "inbound.received" && context.lastTurnId === event.envelope.id,
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
      on: {
        "model.replied": { target: "replying", actions: assign({ reply: ({ event }) => event.text }) },
        "model.failed": { target: "idle", actions: assign({ failure: ({ event }) => event.failure, current: undefined }) },
      },
    },
    replying: {
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
            };
          }),
        },
        "reply.failed": { target: "idle", actions: assign({ failure: ({ event }) => event.failure, current: undefined, reply: undefined }) },
      },
    },
  },
});
