/**
 * The agent kinds: each a state machine whose states declare their effects
 * (`meta.effect`) and the effects by name. An agent's `kind` picks one; the
 * session host runs any of them with the one driver, and the live view draws
 * them from here. A new kind is a machine and its effects added to this map.
 */
import type { AnyStateMachine } from "xstate";
import type { AgentDeps } from "./agent-deps.js";
import type { AgentEffects } from "../effect-driver.js";
import { assistantEffects } from "./assistant.effects.js";
import { assistantMachine } from "./assistant.machine.js";

/** One kind of agent. */
export interface AgentKind {
  readonly name: string;
  readonly description: string;
  /**
   * Its machine. Input `{agent, session, historyLimit}`; context with the
   * session memory and `lastTurnId`, `current`, `failure`; events
   * `inbound.received` (and `inbound.interrupt`, mail events it handles).
   */
  readonly machine: AnyStateMachine;
  effects(deps: AgentDeps): AgentEffects;
}

/** Every kind, by name. */
export const AGENT_KINDS: ReadonlyMap<string, AgentKind> = new Map<string, AgentKind>([
  [
    "assistant",
    {
      name: "assistant",
      description: "answers with a language model (or the scripted model) and calls skills as tools across suspended turns",
      machine: assistantMachine,
      effects: assistantEffects,
    },
  ],
]);

/** The kind an agent names, or undefined. */
export function agentKind(name: string): AgentKind | undefined {
  return AGENT_KINDS.get(name);
}
