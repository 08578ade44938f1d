/**
 * Every actor kind's state machine, by kind: what the live view draws (from
 * the definitions themselves, so the picture cannot drift from the code).
 * Kept here, where every kind's module is below, and handed to the live view.
 */
import type { AnyStateMachine } from "xstate";
import { AGENT_KINDS } from "../actors/agent-kinds.js";
import { invocationMachine } from "../skills/invocation.machine.js";
import type { ActorKind } from "../observability/index.js";
import { partitionOwnerMachine } from "./partition-owner.machine.js";
import { nodeMachine } from "./node.machine.js";
import { channelMachine } from "../adapters/channel.machine.js";

/**
 * The machines of the actor kinds that are XState machines. Sessions are
 * drawn with the default agent kind's machine (the registry's first).
 */
export const ACTOR_MACHINES: Partial<Record<ActorKind, AnyStateMachine>> = {
  session: [...AGENT_KINDS.values()][0]!.machine,
  skill: invocationMachine,
  partition: partitionOwnerMachine,
  node: nodeMachine,
  channel: channelMachine,
};
