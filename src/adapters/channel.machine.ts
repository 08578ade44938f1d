/**
 * The lifecycle of one channel account on the node that runs it:
 * disconnected → connecting → connected → backoff → connecting → …
 *
 * The machine is pure; its two actors are given by the runner: `connect`
 * (open the native connection and start delivering replies) and `watch`
 * (settles when that connection is lost). A failed connect and a lost
 * connection both wait in `backoff` — exponential with jitter, `attempt`
 * counting since the last good connection — before the next try.
 */
import { assign, fromPromise, setup } from "xstate";

/** What the live view and `GET /v1/channels` show of an account. */
export interface ChannelContext {
  type: string;
  account: string;
  /** failed connects (or losses) since the last good connection */
  attempt: number;
  lastError?: string;
  /** ms since the epoch of the last good connect */
  connectedAt?: number;
}

export type ChannelEvent = { type: "start" };

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The channel lifecycle machine (provide `connect`, `watch` and the `backoff` delay). */
export const channelMachine = setup({
  types: {
    context: {} as ChannelContext,
    events: {} as ChannelEvent,
    input: {} as { type: string; account: string },
  },
  actors: {
    connect: fromPromise<void>(async () => {
      throw new Error("connect: provided by the runner");
    }),
    watch: fromPromise<Error>(async () => {
      throw new Error("watch: provided by the runner");
    }),
  },
  delays: {
    backoff: () => 1_000,
  },
}).createMachine({
  id: "channel",
  context: ({ input }) => ({ type: input.type, account: input.account, attempt: 0 }),
  initial: "disconnected",
  states: {
    disconnected: {
      on: { start: "connecting" },
    },
    connecting: {
      invoke: {
        src: "connect",
        onDone: { target: "connected", actions: assign({ attempt: 0, lastError: undefined, connectedAt: () => Date.now() }) },
        onError: { target: "backoff", actions: assign({ attempt: ({ context }) => context.attempt + 1, lastError: ({ event }) => errorText(event.error) }) },
      },
    },
    connected: {
      invoke: {
        src: "watch",
        onDone: { target: "backoff", actions: assign({ attempt: 1, lastError: ({ event }) => errorText(event.output) }) },
        onError: { target: "backoff", actions: assign({ attempt: 1, lastError: ({ event }) => errorText(event.error) }) },
      },
    },
    backoff: {
      after: { backoff: "connecting" },
    },
  },
});
