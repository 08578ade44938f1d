/**
 * The one driver of every machine whose states declare their effects — the
 * agent kinds' session actors and the skill invocation actors: it performs
 * the effect the actor's current state declares (`meta: { effect: "<name>" }`)
 * and sends the outcome back as an event, until the actor settles (a state
 * without an effect) or suspends (a state tagged `suspended`, which waits for
 * mail). It knows no particular machine; the effects come by name.
 */
import type { AnyActorRef, AnyMachineSnapshot, EventObject } from "xstate";

/**
 * Performs one effect for the actor's context and resolves with the event
 * that reports its outcome (success or failure: an effect reports its own
 * failures as events). Only a deadline (an aborted `signal`) rejects.
 */
export type AgentEffect = (context: never, signal: AbortSignal) => Promise<EventObject>;

/** Effects by the names the machine's states declare. */
export type AgentEffects = Readonly<Record<string, AgentEffect>>;

/** The tag of states in which a turn waits for mail. */
export const SUSPENDED_TAG = "suspended";

/** The effect the actor's current state declares (the deepest active state that declares one), if any. */
export function effectOf(s: AnyMachineSnapshot): string | undefined {
  let effect: string | undefined;
  for (const meta of Object.values(s.getMeta() as Record<string, { effect?: unknown } | undefined>)) {
    if (typeof meta?.effect === "string") effect = meta.effect;
  }
  return effect;
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
 * Runs the actor's effects until it settles or suspends. An aborted `signal`
 * (the turn's deadline) throws and leaves the actor mid-turn: the caller must
 * drop it and start again from the persisted snapshot. `onEffect` is told how
 * long each effect took.
 */
export async function driveActor(actor: AnyActorRef, effects: AgentEffects, signal: AbortSignal, onEffect?: (name: string, ms: number) => void): Promise<"settled" | "suspended"> {
  for (;;) {
    const s = actor.getSnapshot() as AnyMachineSnapshot;
    if (s.hasTag(SUSPENDED_TAG)) return "suspended";
    const name = effectOf(s);
    if (name === undefined) return "settled";
    const perform = effects[name];
    if (!perform) throw new Error(`the machine's state ${JSON.stringify(s.value)} declares effect "${name}", which this agent kind does not provide`);
    const started = performance.now();
    const outcome = await untilAborted(perform(s.context as never, signal), signal);
    onEffect?.(name, performance.now() - started);
    actor.send(outcome);
  }
}
