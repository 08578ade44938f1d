/**
 * The relay: a session agent that answers nothing itself and hands each
 * message on to another agent, which answers the sender. Pure: its one
 * effect, `relay` (publish the message into the other agent's session
 * mailbox), is declared on the state that needs it and performed by the
 * host's driver (relay.effects.ts). It never suspends: a turn ends once the
 * message is handed on, durably.
 *
 *   idle ─inbound.received─▶ relaying ─turn.relayed─▶ idle (lastTurnId: a redelivery is absorbed)
 *                                └──────relay.failed─▶ idle (failure recorded: the host retries or dead-letters)
 */
import { assign, setup } from "xstate";
import type { Envelope } from "../bus/index.js";
import type { InboundReceived, TurnContext, TurnFailure, TurnInput } from "./turn.js";

/** Context of a relay session (persisted). */
export interface RelayContext extends TurnContext {
  agent: string;
  session: string;
  /** messages handed on in this session's life */
  relayed: number;
  /** the agent the last message was handed to */
  lastTo?: string;
  lastTurnId?: string;
  /** the message being handed on (only in `relaying`) */
  current?: { envelope: Envelope; attempt: number };
  failure?: TurnFailure;
}

/** Events a relay accepts: a message, and the outcome of handing it on. */
export type RelayEvent = InboundReceived | { type: "turn.relayed"; to: string } | { type: "relay.failed"; failure: TurnFailure };

/** The relay machine. */
export const relayMachine = setup({
  types: {
    context: {} as RelayContext,
    events: {} as RelayEvent,
    input: {} as TurnInput,
  },
  guards: {
    alreadyAnswered: ({ context, event }) => event.type === "inbound.received" && context.lastTurnId === event.envelope.id,
  },
}).createMachine({
  id: "relay",
  context: ({ input }) => ({ agent: input.agent, session: input.session, relayed: 0 }),
  initial: "idle",
  states: {
    idle: {
      on: {
        "inbound.received": [
          { guard: "alreadyAnswered" },
          { target: "relaying", actions: assign({ current: ({ event }) => ({ envelope: event.envelope, attempt: event.attempt }), failure: undefined }) },
        ],
      },
    },
    relaying: {
      meta: { effect: "relay" },
      on: {
        "turn.relayed": {
          target: "idle",
          actions: assign(({ context, event }) => ({
            lastTurnId: context.current!.envelope.id,
            lastTo: event.to,
            relayed: context.relayed + 1,
            current: undefined,
          })),
        },
        "relay.failed": { target: "idle", actions: assign(({ event }) => ({ failure: event.failure, current: undefined })) },
      },
    },
  },
});
