/**
 * What a session is sent for a request, decided on its actor's snapshot —
 * pure, so the host's reading of the turn contract (turn.ts) is tested
 * without I/O: a user message the session has answered already is absorbed,
 * one for a suspended turn interrupts it, and mail goes to the turn in
 * progress only when its machine can take it.
 */
import type { AnyMachineSnapshot } from "xstate";
import type { Envelope } from "../bus/index.js";
import { SUSPENDED_TAG, type InboundInterrupt, type InboundReceived, type MailEvent, type TurnContext } from "./turn.js";

/** What arrived for a session: a user message, or mail (as the event it is for a session machine). */
export type Arrival = { kind: "message"; envelope: Envelope } | { kind: "mail"; event: MailEvent };

/** What a try sends the actor. */
export type TurnDecision =
  /** the session answered this message already (a redelivery) */
  | { kind: "answered" }
  /** mail nobody waits for any more */
  | { kind: "stale"; why: string }
  /** `turn`: the message whose turn the event starts or `resumes` */
  | { kind: "send"; event: InboundReceived | InboundInterrupt | MailEvent; turn: Envelope; resumes: boolean };

/** A user message for the session in snapshot `s`. */
export function decideTurn(s: AnyMachineSnapshot, envelope: Envelope, attempt: number): TurnDecision {
  const context: TurnContext = s.context;
  if (context.lastTurnId === envelope.id) return { kind: "answered" };
  const event: InboundReceived | InboundInterrupt = s.hasTag(SUSPENDED_TAG)
    ? { type: "inbound.interrupt", envelope, attempt }
    : { type: "inbound.received", envelope, attempt };
  return { kind: "send", event, turn: envelope, resumes: false };
}

/** Mail, as the event it is for a session machine, for the session in snapshot `s`. */
export function decideMail(s: AnyMachineSnapshot, event: MailEvent): TurnDecision {
  const context: TurnContext = s.context;
  if (!context.current || !s.can(event)) return { kind: "stale", why: `no turn waits for this ${event.type}` };
  return { kind: "send", event, turn: context.current.envelope, resumes: true };
}

/** What `arrival` sends the session in snapshot `s`, on delivery attempt `attempt`. */
export function decideArrival(s: AnyMachineSnapshot, arrival: Arrival, attempt: number): TurnDecision {
  return arrival.kind === "message" ? decideTurn(s, arrival.envelope, attempt) : decideMail(s, arrival.event);
}
