/**
 * The node supervisor's state, as an actor the live view can watch: its
 * lifecycle and, in parallel, its leadership and its view of NATS. The
 * supervisor (node.ts) sends the facts — joined, lease taken or lost, NATS
 * unavailable or back, stopping — as they happen; the machine holds no
 * effects, so a picture of it is a picture of the node.
 *
 *   lifecycle:  starting ──joined──▶ serving ──stop──▶ stopping ──stopped──▶ stopped
 *                   └──waiting──▶ waiting ──joined──▶ serving
 *   leadership: follower ⇄ leader   (lease.taken / lease.lost)
 *   nats:       available ⇄ unavailable   (bus.unavailable / bus.available; the reason in context)
 */
import { assign, setup } from "xstate";

/** Input of the node actor. */
export interface NodeInput {
  node: string;
}

/** Context of the node actor. */
export interface NodeContext extends NodeInput {
  /** times this node became leader */
  terms: number;
  /** why NATS is unavailable (`nats: disconnected`, …), while it is */
  natsProblem?: string;
}

/** Facts the supervisor reports. */
export type NodeEvent =
  | { type: "joined" }
  | { type: "waiting" }
  | { type: "lease.taken" }
  | { type: "lease.lost" }
  | { type: "bus.unavailable"; reason: string }
  | { type: "bus.available" }
  | { type: "stop" }
  | { type: "stopped" };

/** The node machine. */
export const nodeMachine = setup({
  types: { context: {} as NodeContext, events: {} as NodeEvent, input: {} as NodeInput },
}).createMachine({
  id: "node",
  context: ({ input }) => ({ node: input.node, terms: 0 }),
  type: "parallel",
  states: {
    lifecycle: {
      initial: "starting",
      states: {
        starting: { on: { joined: "serving", waiting: "waiting", stop: "stopping" } },
        waiting: { on: { joined: "serving", stop: "stopping" } },
        serving: { on: { stop: "stopping" } },
        stopping: { on: { stopped: "stopped" } },
        stopped: { type: "final" },
      },
    },
    leadership: {
      initial: "follower",
      states: {
        follower: { on: { "lease.taken": { target: "leader", actions: assign({ terms: ({ context }) => context.terms + 1 }) } } },
        leader: { on: { "lease.lost": "follower" } },
      },
    },
    nats: {
      initial: "available",
      states: {
        available: { on: { "bus.unavailable": { target: "unavailable", actions: assign({ natsProblem: ({ event }) => event.reason }) } } },
        unavailable: {
          on: {
            "bus.unavailable": { actions: assign({ natsProblem: ({ event }) => event.reason }) },
            "bus.available": { target: "available", actions: assign({ natsProblem: undefined }) },
          },
        },
      },
    },
  },
});
