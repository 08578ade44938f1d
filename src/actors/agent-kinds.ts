/**
 * The agent kinds, by name: each a state machine whose states declare their
 * effects (`meta.effect`) and the effects by name, meeting the contract of
 * turn.ts. An agent's `kind` picks one; the session host runs any of them
 * with the one driver, and the live view draws each session with its own
 * kind's machine. A new kind is its machine and effects, and one line here.
 */
import { assistantEffects } from "./assistant.effects.js";
import { assistantMachine } from "./assistant.machine.js";
import { relayEffects, RelayOptionsSchema } from "./relay.effects.js";
import { relayMachine } from "./relay.machine.js";
import { defineAgentKind, type AgentKind } from "./turn.js";

/** Every kind, by name. */
export const AGENT_KINDS: ReadonlyMap<string, AgentKind> = new Map(
  [
    defineAgentKind({
      name: "assistant",
      description: "answers with a language model (or the scripted model) and calls skills as tools across suspended turns",
      machine: assistantMachine,
      effects: assistantEffects,
    }),
    defineAgentKind({
      name: "relay",
      description: "hands each message on to the agent its options.to names, which answers",
      machine: relayMachine,
      options: RelayOptionsSchema,
      effects: relayEffects,
    }),
  ].map((k) => [k.name, k]),
);

/** The kind an agent names, or undefined. */
export function agentKind(name: string): AgentKind | undefined {
  return AGENT_KINDS.get(name);
}
