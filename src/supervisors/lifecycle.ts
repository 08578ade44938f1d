/**
 * An ordered list of parts — a node's, from its NATS connection to its
 * gateway — that starts in the order it is written and stops in the
 * reverse: each part is declared with what it needs (the parts listed
 * before it, by name), how it stops, and what must not outlive a stop that
 * runs late. Nothing is started until {@link Lifecycle.start}.
 *
 * - A part that fails to start stops those already started (last first),
 *   then its failure is thrown.
 * - A stop asked while the list still starts (a child past its restart
 *   intensity) lets the part starting finish starting, then stops it and
 *   those before it; nothing more is started.
 * - A stop runs every started part's stop, last first, each given the
 *   deadline the stop was asked with; one that throws does not keep the
 *   parts before it running (the first failure is thrown at the end).
 */

/** How a part ends. */
export interface PartEnd<T> {
  /** its graceful stop; `deadline` (ms since the epoch) is when the whole stop means to be done */
  stop?(value: T, deadline: number): unknown;
  /** when a stop runs late: what must not outlive the process (a connection, a child process), at once */
  kill?(value: T): unknown;
}

/** What every part's start is given besides the parts before it. */
export interface LifecycleControl {
  /** stops the whole list (a part's child failed for good): the owner's bounded stop */
  stop(): Promise<void>;
}

/** Raised by {@link Lifecycle.start} when a stop was asked before every part had started. */
export class StoppedWhileStartingError extends Error {
  readonly code = "stopped_while_starting";
  constructor(readonly part: string) {
    super(`stopped while starting (before ${part})`);
    this.name = "StoppedWhileStartingError";
  }
}

interface Step {
  name: string;
  start(parts: Record<string, unknown>, control: LifecycleControl): Promise<unknown>;
  end: PartEnd<unknown>;
}

interface State {
  steps: Step[];
  /** the parts started and not yet stopped, in order */
  started: Array<{ step: Step; value: unknown }>;
  /** every part ever started, in order (a late stop kills them all, those stopping too) */
  all: Array<{ step: Step; value: unknown }>;
  /** the start of the part starting now */
  starting?: Promise<unknown>;
  stopping?: Promise<void>;
}

/** A list of parts, typed by what the parts listed so far give (`C`: name → value). */
export interface Lifecycle<C extends object> {
  /** lists `name` after the parts before it: `start` gets them (and the list's control), `end` says how it stops */
  part<K extends string, T>(name: K, start: (parts: C, control: LifecycleControl) => T | Promise<T>, end?: PartEnd<T>): Lifecycle<C & Record<K, T>>;
  /** starts the parts in order; `control` is what each part may use to stop the list */
  start(control: LifecycleControl): Promise<C>;
  /** stops the started parts, last first, once (later calls get the same promise) */
  stop(deadline: number): Promise<void>;
  /** a stop ran late: every started part's `kill`, last first, now (none keeps the others from theirs) */
  kill(): Promise<void>;
  /** the parts started so far (all of them once {@link start} resolved) */
  started(): Partial<C>;
}

/** An empty list. */
export function lifecycle(): Lifecycle<object> {
  return listOf<object>({ steps: [], started: [], all: [] });
}

function listOf<C extends object>(state: State): Lifecycle<C> {
  return {
    part<K extends string, T>(name: K, start: (parts: C, control: LifecycleControl) => T | Promise<T>, end: PartEnd<T> = {}) {
      const step: Step = {
        name,
        start: async (parts, control) => start(parts as C, control),
        end: {
          ...(end.stop ? { stop: (value: unknown, deadline: number) => end.stop!(value as T, deadline) } : {}),
          ...(end.kill ? { kill: (value: unknown) => end.kill!(value as T) } : {}),
        },
      };
      return listOf<C & Record<K, T>>({ steps: [...state.steps, step], started: [], all: [] });
    },
    async start(control) {
      const parts: Record<string, unknown> = {};
      for (const step of state.steps) {
        if (state.stopping) throw new StoppedWhileStartingError(step.name);
        let value: unknown;
        try {
          value = await (state.starting = step.start(parts, control));
        } catch (e) {
          // (or, when a stop is under way already, waits for it)
          await (state.stopping ??= stopStarted(state, Date.now())).catch(() => undefined);
          throw e;
        } finally {
          state.starting = undefined;
        }
        parts[step.name] = value;
        state.started.push({ step, value });
        state.all.push({ step, value });
      }
      return parts as C;
    },
    stop: (deadline) =>
      (state.stopping ??= (async () => {
        // a part starting now stops too, before those started before it
        await state.starting?.catch(() => undefined);
        await stopStarted(state, deadline);
      })()),
    async kill() {
      for (const { step, value } of [...state.all].reverse()) {
        // a late stop: what can be killed is, whatever one part does
        await Promise.resolve()
          .then(() => step.end.kill?.(value))
          .catch(() => undefined);
      }
    },
    started: () => Object.fromEntries(state.all.map(({ step, value }) => [step.name, value])) as Partial<C>,
  };
}

/** Stops what has started, last first; every part is stopped even when one throws (the first failure is thrown at the end). */
async function stopStarted(state: State, deadline: number): Promise<void> {
  let failure: { error: unknown } | undefined;
  while (state.started.length > 0) {
    const { step, value } = state.started.pop()!;
    try {
      await step.end.stop?.(value, deadline);
    } catch (e) {
      failure ??= { error: e };
    }
  }
  if (failure) throw failure.error;
}
