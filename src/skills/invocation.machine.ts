/**
 * One skill invocation, as an actor the live view can watch. Pure: its
 * states declare their effects (`meta.effect`), which the worker performs
 * with the same driver as the session actors.
 *
 *   validating ─invocation.valid─▶ running ─run.succeeded─▶ verifying ─output.checked─▶ answering ─result.published─▶ done
 *        │ invocation.refused         │ run.failed (retryable, attempts left) ─▶ retrying ─backoff.elapsed─▶ running
 *        └──────────────────────────▶ answering ◀─ run.failed (final)
 *                                     answering ─result.unpublished─▶ unpublished (the worker gives the message back)
 */
import { assign, setup } from "xstate";
import type { SkillError, SkillInvocation } from "../bus/index.js";

/** How an invocation ended, as its caller is told. */
export type InvocationResult = { ok: true; output: unknown } | { ok: false; error: SkillError };

/** Input of an invocation actor. */
export interface InvocationInput {
  invocation: SkillInvocation;
  /** the server's delivery count of the invocation message */
  deliveries: number;
}

/** Context of an invocation actor. */
export interface InvocationContext extends InvocationInput {
  /** `id@version` once resolved */
  skill?: string;
  attempt: number;
  /** what the run returned, before it is checked */
  output?: unknown;
  result?: InvocationResult;
  durationMs: number;
}

/** Outcomes of the effects. */
export type InvocationEvent =
  | { type: "invocation.valid"; skill: string }
  | { type: "invocation.refused"; error: SkillError; skill?: string }
  | { type: "run.succeeded"; output: unknown; durationMs: number }
  | { type: "run.failed"; error: SkillError; retryable: boolean; durationMs: number }
  | { type: "backoff.elapsed" }
  | { type: "output.checked"; error?: SkillError }
  | { type: "result.published" }
  | { type: "result.unpublished"; error: string };

/** The invocation machine; `maxAttempts` comes with the resolved skill's retry policy through `invocation.valid`. */
export const invocationMachine = setup({
  types: { context: {} as InvocationContext, events: {} as InvocationEvent, input: {} as InvocationInput },
  guards: {
    retryable: ({ event }) => event.type === "run.failed" && event.retryable,
  },
}).createMachine({
  id: "skill",
  context: ({ input }) => ({ ...input, attempt: 0, durationMs: 0 }),
  initial: "validating",
  states: {
    validating: {
      meta: { effect: "validate" },
      on: {
        "invocation.valid": { target: "running", actions: assign({ skill: ({ event }) => event.skill }) },
        "invocation.refused": {
          target: "answering",
          actions: assign({ skill: ({ event }) => event.skill, result: ({ event }) => ({ ok: false, error: event.error }) }),
        },
      },
    },
    running: {
      meta: { effect: "run" },
      entry: assign({ attempt: ({ context }) => context.attempt + 1 }),
      on: {
        "run.succeeded": {
          target: "verifying",
          actions: assign({ output: ({ event }) => event.output, durationMs: ({ context, event }) => context.durationMs + event.durationMs }),
        },
        "run.failed": [
          { guard: "retryable", target: "retrying", actions: assign({ durationMs: ({ context, event }) => context.durationMs + event.durationMs }) },
          {
            target: "answering",
            actions: assign({
              result: ({ event }) => ({ ok: false, error: event.error }),
              durationMs: ({ context, event }) => context.durationMs + event.durationMs,
            }),
          },
        ],
      },
    },
    retrying: {
      meta: { effect: "wait" },
      on: { "backoff.elapsed": "running" },
    },
    verifying: {
      meta: { effect: "verify" },
      on: {
        "output.checked": {
          target: "answering",
          actions: assign({
            result: ({ context, event }): InvocationResult => (event.error ? { ok: false, error: event.error } : { ok: true, output: context.output }),
          }),
        },
      },
    },
    answering: {
      meta: { effect: "answer" },
      on: { "result.published": "done", "result.unpublished": "unpublished" },
    },
    done: { type: "final" },
    unpublished: { type: "final" },
  },
});
