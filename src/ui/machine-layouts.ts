/**
 * The statecharts of the actor kinds it is given, laid out
 * once per process (the machines do not change while it runs).
 */
import type { AnyStateMachine } from "xstate";
import type { ActorKind } from "../observability/index.js";
import { statechartOf } from "./statechart.js";
import { layoutStatechart, type StatechartLayout } from "./statechart-layout.js";

/** One machine's chart, as `GET /ui/api/machines` returns it. */
export interface MachineLayout extends StatechartLayout {
  kind: ActorKind;
  /**
   * for an actor kind with several machines (sessions: one per agent kind),
   * this one's name — the `machine` an actor of it is listed and reported with
   */
  machine?: string;
}

/** A machine to draw: for an actor kind with several, under its name. */
export interface DrawnMachine {
  kind: ActorKind;
  machine?: string;
  logic: AnyStateMachine;
}

/** The machines to draw, in order (a session is drawn with its agent kind's machine; a kind's first is its default). */
export type ActorMachines = readonly DrawnMachine[];

/** Lays out each machine of `machines`, in order. */
export async function layoutMachines(machines: ActorMachines): Promise<MachineLayout[]> {
  const out: MachineLayout[] = [];
  for (const { kind, machine, logic } of machines)
    out.push({ kind, ...(machine === undefined ? {} : { machine }), ...(await layoutStatechart(statechartOf(logic))) });
  return out;
}

/** A cache of {@link layoutMachines}: computed on first use; a failure is not cached. */
export function cachedMachineLayouts(compute: () => Promise<MachineLayout[]>): () => Promise<MachineLayout[]> {
  let cached: Promise<MachineLayout[]> | undefined;
  return () => {
    cached ??= compute().catch((e: unknown) => {
      cached = undefined;
      throw e;
    });
    return cached;
  };
}
