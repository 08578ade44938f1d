/**
 * The live view at `/ui`: statecharts drawn from the machines themselves, the
 * live actors of every node, their transitions as they happen, and the cluster.
 */
export { createUiRoutes, type UiRoutes, type UiRoutesOptions } from "./ui-routes.js";
export { statechartOf, guardName, type Statechart, type ChartState, type ChartTransition, type TransitionKind } from "./statechart.js";
export { layoutStatechart, CHART_TEXT, type StatechartLayout, type PlacedState, type PlacedTransition, type PlacedInitial } from "./statechart-layout.js";
export { layoutMachines, type ActorMachines, type DrawnMachine, type MachineLayout } from "./machine-layouts.js";
export { redactSecrets, REDACTED } from "./redact.js";
