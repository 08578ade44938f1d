/**
 * Drives one turn of a session actor: performs the effect of the state the
 * actor is in (`thinking`: the model; `replying`: publish the reply) and
 * sends the outcome back as an event, until the actor is idle again.
 */
import type { Actor } from "xstate";
import { deliverInput, thinkInput, toFailure, type DeliveredReply, type DeliverInput, type sessionMachine, type ThinkInput } from "./session.machine.js";

/** The effects a session's turn needs. */
export interface TurnEffects {
  think(input: ThinkInput, signal: AbortSignal): Promise<{ text: string }>;
  deliver(input: DeliverInput): Promise<DeliveredReply>;
}

/** Rejects with the signal's reason once it aborts. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Runs the turn the actor is in until it is idle. Effect failures become
 * `model.failed` / `reply.failed` events (the machine records them); only an
 * aborted `signal` (the turn's deadline) throws, leaving the actor mid-turn:
 * the caller must drop it.
 */
export async function driveTurn(actor: Actor<typeof sessionMachine>, effects: TurnEffects, signal: AbortSignal): Promise<void> {
  for (;;) {
    const s = actor.getSnapshot();
    if (s.matches("thinking")) {
      let text: string;
      try {
        text = (await untilAborted(effects.think(thinkInput(s.context), signal), signal)).text;
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        actor.send({ type: "model.failed", failure: toFailure(s.context.current!.envelope.id, e) });
        continue;
      }
      actor.send({ type: "model.replied", text });
    } else if (s.matches("replying")) {
      let out: DeliveredReply;
      try {
        out = await untilAborted(effects.deliver(deliverInput(s.context)), signal);
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        actor.send({ type: "reply.failed", failure: toFailure(s.context.current!.envelope.id, e) });
        continue;
      }
      actor.send({ type: "reply.published", id: out.id, ts: out.ts, transcriptSeq: out.transcriptSeq });
    } else {
      return;
    }
  }
}
