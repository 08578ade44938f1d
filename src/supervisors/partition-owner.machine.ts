/**
 * The owner of one partition on one node: claims it, runs its mailboxes, and
 * on release stops pulling, finishes what is in flight and drops the claim.
 * Pure: the effects are the named actors `claim`, `start` and `drain`,
 * supplied by the partition manager.
 *
 *   claiming ──claimed──▶ starting ──▶ running ──release──▶ draining ──▶ released
 *      │ not claimed (no longer wanted)                       ▲
 *      └──────────────release──────────────────────────────────┘
 *
 * A release that arrives while starting is remembered and honoured once the
 * runner is up, so a claim is never left behind by a node that moved on.
 */
import { assign, fromPromise, setup } from "xstate";

/** Input of a partition owner. */
export interface PartitionOwnerInput {
  partition: number;
  node: string;
  epoch: number;
}

/** Context of a partition owner. */
export interface PartitionOwnerContext extends PartitionOwnerInput {
  /** a release arrived while starting */
  releaseRequested: boolean;
  error?: string;
}

/** Events a partition owner accepts. */
export type PartitionOwnerEvent = { type: "release" };

const notProvided = (name: string) => async (): Promise<never> => {
  throw new Error(`the partition manager must provide the ${name} actor`);
};

/** The partition owner machine. */
export const partitionOwnerMachine = setup({
  types: {
    context: {} as PartitionOwnerContext,
    events: {} as PartitionOwnerEvent,
    input: {} as PartitionOwnerInput,
  },
  actors: {
    /** takes the claim `claim.<p>`; resolves false when the partition is no longer wanted */
    claim: fromPromise<boolean, { partition: number; epoch: number }>(notProvided("claim")),
    /** starts the partition's runner */
    start: fromPromise<void, { partition: number }>(notProvided("start")),
    /** stops pulling, waits for in-flight messages, drops the claim */
    drain: fromPromise<void, { partition: number }>(notProvided("drain")),
  },
  guards: {
    // given the claim's output (whether it was taken) by the claim's done event
    claimed: (_, params: { output: boolean }) => params.output,
    releaseRequested: ({ context }) => context.releaseRequested,
    startFailed: ({ context }) => context.error !== undefined,
  },
}).createMachine({
  id: "partitionOwner",
  context: ({ input }) => ({ ...input, releaseRequested: false }),
  initial: "claiming",
  states: {
    claiming: {
      invoke: {
        src: "claim",
        input: ({ context }) => ({ partition: context.partition, epoch: context.epoch }),
        onDone: [{ guard: { type: "claimed", params: ({ event }) => ({ output: event.output }) }, target: "starting" }, { target: "released" }],
        onError: { target: "failed", actions: assign({ error: ({ event }) => String(event.error) }) },
      },
      // the claim may have been written just now: draining drops it if it is ours
      on: { release: "draining" },
    },
    starting: {
      invoke: {
        src: "start",
        input: ({ context }) => ({ partition: context.partition }),
        onDone: [{ guard: "releaseRequested", target: "draining" }, { target: "running" }],
        onError: { target: "draining", actions: assign({ error: ({ event }) => String(event.error) }) },
      },
      on: { release: { actions: assign({ releaseRequested: true }) } },
    },
    running: {
      on: { release: "draining" },
    },
    draining: {
      invoke: {
        src: "drain",
        input: ({ context }) => ({ partition: context.partition }),
        onDone: [{ guard: "startFailed", target: "failed" }, { target: "released" }],
        onError: { target: "failed", actions: assign({ error: ({ event }) => String(event.error) }) },
      },
    },
    released: { type: "final" },
    failed: { type: "final" },
  },
});
