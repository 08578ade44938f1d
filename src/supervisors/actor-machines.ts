/**
 * Every actor kind's state machine: what the live view draws (from the
 * definitions themselves, so the picture cannot drift from the code). Kept
 * here, where every kind's module is below, and handed to the live view.
 */
import { AGENT_KINDS } from "../actors/agent-kinds.js";
import { invocationMachine } from "../skills/invocation.machine.js";
import { partitionOwnerMachine } from "./partition-owner.machine.js";
import { nodeMachine } from "./node.machine.js";
import { channelMachine } from "../adapters/channel.machine.js";
import type { ActorMachines } from "../ui/index.js";

/**
 * The machines of the actor kinds that are XState machines. Sessions have
 * one per agent kind, under the kind's name (the name a session actor is
 * registered with): each session is drawn with its own kind's machine.
 */
export const ACTOR_MACHINES: ActorMachines = [
  ...[...AGENT_KINDS.values()].map((k) => ({ kind: "session" as const, machine: k.name, logic: k.machine })),
  { kind: "skill", logic: invocationMachine },
  { kind: "partition", logic: partitionOwnerMachine },
  { kind: "node", logic: nodeMachine },
  { kind: "channel", logic: channelMachine },
];
