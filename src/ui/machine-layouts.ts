/**
 * The statecharts of the actor kinds it is given, laid out
 * once per process (the machines do not change while it runs).
 */
import type { AnyStateMachine } from "xstate";
import type { ActorKind } from "../observability/index.js";
import { statechartOf } from "./statechart.js";
import { layoutStatechart, type StatechartLayout } from "./statechart-layout.js";

/** One kind's chart, as `GET /ui/api/machines` returns it. */
export interface MachineLayout extends StatechartLayout {
  kind: ActorKind;
}

/** The machines to draw, by actor kind. */
export type ActorMachines = Partial<Record<ActorKind, AnyStateMachine>>;

/** Lays out each machine of `machines`. */
export async function layoutMachines(machines: ActorMachines): Promise<MachineLayout[]> {
  const out: MachineLayout[] = [];
  for (const [kind, machine] of Object.entries(machines) as Array<[ActorKind, AnyStateMachine]>) {
    out.push({ kind, ...(await layoutStatechart(statechartOf(machine))) });
  }
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
