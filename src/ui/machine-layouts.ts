/**
 * The statecharts of every actor kind in {@link ACTOR_MACHINES}, laid out
 * once per process (the machines do not change while it runs).
 */
import type { AnyStateMachine } from "xstate";
import { ACTOR_MACHINES, type ActorKind } from "../observability/index.js";
import { statechartOf } from "./statechart.js";
import { layoutStatechart, type StatechartLayout } from "./statechart-layout.js";

/** One kind's chart, as `GET /ui/api/machines` returns it. */
export interface MachineLayout extends StatechartLayout {
  kind: ActorKind;
}

/** Lays out each machine of `machines` (default: the registry). */
export async function layoutMachines(machines: Partial<Record<ActorKind, AnyStateMachine>> = ACTOR_MACHINES): Promise<MachineLayout[]> {
  const out: MachineLayout[] = [];
  for (const [kind, machine] of Object.entries(machines) as Array<[ActorKind, AnyStateMachine]>) {
    out.push({ kind, ...(await layoutStatechart(statechartOf(machine))) });
  }
  return out;
}

/** A cache of {@link layoutMachines}: computed on first use; a failure is not cached. */
export function cachedMachineLayouts(compute: () => Promise<MachineLayout[]> = layoutMachines): () => Promise<MachineLayout[]> {
  let cached: Promise<MachineLayout[]> | undefined;
  return () => {
    cached ??= compute().catch((e: unknown) => {
      cached = undefined;
      throw e;
    });
    return cached;
  };
}
