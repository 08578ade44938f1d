/**
 * The one driver of every machine whose states declare their effects — the
 * agent kinds' session actors and the skill invocation actors: it performs
 * the effect the actor's current state declares (`meta: { effect: "<name>" }`)
 * and sends the outcome back as an event, until the actor settles (a state
 * without an effect) or suspends (a state tagged `suspended`, which waits for
 * mail). It knows no particular machine; the effects come by name, typed
 * against the machine they serve ({@link EffectsOf}).
 */
import type { AnyMachineSnapshot, AnyStateMachine, ContextFrom, EventFromLogic, EventObject } from "xstate";

/**
 * Performs one effect for the actor's context and resolves with the event
 * that reports its outcome (success or failure: an effect reports its own
 * failures as events). Only a deadline (an aborted `signal`) rejects.
 */
export type Effect<TContext, TEvent extends EventObject> = (context: TContext, signal: AbortSignal) => Promise<TEvent>;

/** Effects by the names a machine's states declare, each given that machine's context and answering with one of its events. */
export type Effects<TContext, TEvent extends EventObject> = Readonly<Record<string, Effect<TContext, TEvent>>>;

/** The effects of machine `M`: `EffectsOf<typeof assistantMachine>`. */
export type EffectsOf<M extends AnyStateMachine> = Effects<ContextFrom<M>, EventFromLogic<M>>;

/** What the driver needs of an actor: its snapshot, and a way to tell it an effect's outcome. */
export interface DrivenActor<TEvent extends EventObject> {
  getSnapshot(): AnyMachineSnapshot;
  send(event: TEvent): void;
}

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
  if (signal.aborted) {
    p.catch(() => undefined); // no longer wanted: its failure must not go unhandled (that would end the process)
    return Promise.reject(signal.reason);
  }
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
export async function driveActor<TContext, TEvent extends EventObject>(
  actor: DrivenActor<TEvent>,
  effects: Effects<TContext, TEvent>,
  signal: AbortSignal,
  onEffect?: (name: string, ms: number) => void,
): Promise<"settled" | "suspended"> {
  for (;;) {
    const s = actor.getSnapshot();
    if (s.hasTag(SUSPENDED_TAG)) return "suspended";
    const name = effectOf(s);
    if (name === undefined) return "settled";
    const perform = effects[name];
    if (!perform) throw new Error(`the machine's state ${JSON.stringify(s.value)} declares effect "${name}", which this agent kind does not provide`);
    const started = performance.now();
    // the snapshot is the machine's own: its context is the one the effects were typed against
    const context: TContext = s.context;
    const outcome = await untilAborted(perform(context, signal), signal);
    onEffect?.(name, performance.now() - started);
    actor.send(outcome);
  }
}
