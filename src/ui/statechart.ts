/**
 * A statechart read from an XState v5 machine definition (`machine.root` and
 * its state nodes): states with their nesting, type, initial child and invoked
 * actors, and every transition with its event, guard and targets. Pure; the
 * layout and the browser draw from this, so the picture cannot drift from the
 * machine the runtime runs. See https://stately.ai/docs/state-machines-and-statecharts.
 */
import type { AnyStateMachine, AnyStateNode } from "xstate";

/** One state node. */
export interface ChartState {
  /** dotted path from the machine root (`""` for the root, `thinking`, `running.draining`) */
  path: string;
  /** its key within its parent (the machine id for the root) */
  key: string;
  type: "atomic" | "compound" | "parallel" | "final" | "history";
  /** the parent's path; absent for the root */
  parent?: string;
  /** the initial child's path (compound states) */
  initial?: string;
  /** `src` of each actor invoked while in this state */
  invokes: string[];
  /** `shallow` or `deep` for history states */
  history?: "shallow" | "deep";
}

/** How a transition is triggered. */
export type TransitionKind = "event" | "done.actor" | "error.actor" | "done.state" | "after" | "always";

/** One transition (one per target; a targetless one has no `target`). */
export interface ChartTransition {
  /** stable id within the chart */
  id: string;
  source: string;
  /** absent for a targetless transition: it runs its actions and stays */
  target?: string;
  /** the event type as XState dispatches it (`inbound.received`, `xstate.done.actor.0.session.thinking`, `""` for always) */
  event: string;
  kind: TransitionKind;
  /** what to print on the edge (`inbound.received`, `done: model`, `after 500ms`) */
  label: string;
  guard?: string;
  /** true when it re-enters its target (exit and entry run again) */
  reenter: boolean;
}

/** A machine as a statechart. */
export interface Statechart {
  /** the machine's id */
  id: string;
  /** every state node, parents before children, in document order */
  states: ChartState[];
  transitions: ChartTransition[];
}

type AnyTransition = AnyStateNode["transitions"] extends Map<string, Array<infer T>> ? T : never;

/** A readable name for a guard: its name in `setup({ guards })`, or a higher-order guard spelled out (`not(isEmpty)`). */
export function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === "string") return guard;
  if (typeof guard === "function") {
    const f = guard as { name?: string; guards?: unknown[] };
    const name = f.name || "inline";
    return Array.isArray(f.guards) ? `${name}(${f.guards.map((g) => guardName(g) ?? "?").join(", ")})` : name;
  }
  if (typeof guard === "object" && typeof (guard as { type?: unknown }).type === "string") return (guard as { type: string }).type;
  return "guard";
}

/** Path of a state node relative to the machine root. */
function pathOf(node: AnyStateNode): string {
  return node.path.join(".");
}

function srcName(src: unknown): string {
  if (typeof src === "string") return src;
  const logic = src as { config?: { id?: string }; id?: string } | undefined;
  return logic?.config?.id ?? logic?.id ?? "actor";
}

/**
 * Names an event for humans. Invocation results name the invoked actor
 * (`done: model`), delays their duration, eventless transitions `always`.
 */
function describeEvent(source: AnyStateNode, eventType: string): { kind: TransitionKind; label: string } {
  if (eventType === "") return { kind: "always", label: "always" };
  const invokeOf = (prefix: string) => source.invoke.find((i) => eventType === `${prefix}${i.id}`);
  const done = invokeOf("xstate.done.actor.");
  if (done) return { kind: "done.actor", label: `done: ${srcName(done.src)}` };
  const error = invokeOf("xstate.error.actor.");
  if (error) return { kind: "error.actor", label: `error: ${srcName(error.src)}` };
  if (eventType.startsWith("xstate.done.actor.")) return { kind: "done.actor", label: `done: ${eventType.slice("xstate.done.actor.".length)}` };
  if (eventType.startsWith("xstate.error.actor.")) return { kind: "error.actor", label: `error: ${eventType.slice("xstate.error.actor.".length)}` };
  if (eventType === `xstate.done.state.${source.id}`) return { kind: "done.state", label: "done" };
  const after = source.after.find((a) => a.eventType === eventType);
  if (after) return { kind: "after", label: `after ${typeof after.delay === "number" ? `${after.delay}ms` : String(after.delay)}` };
  return { kind: "event", label: eventType };
}

/** Reads the statechart of a machine. */
export function statechartOf(machine: AnyStateMachine): Statechart {
  const states: ChartState[] = [];
  const transitions: ChartTransition[] = [];

  const addTransition = (source: AnyStateNode, t: AnyTransition, eventType: string) => {
    const { kind, label } = describeEvent(source, eventType);
    const guard = guardName(t.guard);
    const base = { source: pathOf(source), event: eventType, kind, label, reenter: t.reenter, ...(guard ? { guard } : {}) };
    const targets = t.target ?? [];
    if (targets.length === 0) transitions.push({ id: `t${transitions.length}`, ...base });
    // a transition into parallel regions has one target per region: one edge each
    for (const target of targets) transitions.push({ id: `t${transitions.length}`, ...base, target: pathOf(target) });
  };

  const visit = (node: AnyStateNode, parent: AnyStateNode | undefined) => {
    const initial = node.type === "compound" ? node.initial.target[0] : undefined;
    states.push({
      path: pathOf(node),
      key: parent ? node.key : node.machine.id,
      type: node.type,
      ...(parent ? { parent: pathOf(parent) } : {}),
      ...(initial ? { initial: pathOf(initial) } : {}),
      invokes: node.invoke.map((i) => srcName(i.src)),
      ...(node.type === "history" ? { history: node.history === "deep" ? ("deep" as const) : ("shallow" as const) } : {}),
    });
    for (const [eventType, list] of node.transitions) for (const t of list) addTransition(node, t, eventType);
    for (const t of node.always ?? []) addTransition(node, t, "");
    const children = Object.values(node.states) as AnyStateNode[];
    for (const child of children.sort((a, b) => a.order - b.order)) visit(child, node);
  };
  visit(machine.root, undefined);
  return { id: machine.id, states, transitions };
}
