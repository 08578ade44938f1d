/**
 * Lays a {@link Statechart} out with ELK's layered algorithm (elkjs), nested
 * states inside their parents (hierarchy handling `INCLUDE_CHILDREN`), so the
 * browser only draws boxes and polylines. Every coordinate comes back in one
 * system (the chart's top left), via ELK's `json.shapeCoords`/`edgeCoords`
 * = `ROOT`. See https://eclipse.dev/elk/reference/algorithms/org-eclipse-elk-layered.html.
 */
import type { ElkExtendedEdge, ElkLabel, ElkNode, ElkPoint } from "elkjs";
import type { ChartState, ChartTransition, Statechart } from "./statechart.js";

/** A point in chart coordinates. */
export interface Point {
  x: number;
  y: number;
}

/** A rectangle in chart coordinates. */
export interface Box extends Point {
  width: number;
  height: number;
}

/** A state with its box. */
export type PlacedState = ChartState & Box;

/** A transition with its route (first point on the source, last on the target) and its label's box. */
export type PlacedTransition = ChartTransition & { points: Point[]; labelBox?: Box };

/** The initial-state marker of a compound state and its arrow to the initial child. */
export interface PlacedInitial {
  /** the compound state's path */
  state: string;
  target: string;
  marker: Box;
  points: Point[];
}

/** A statechart ready to draw. */
export interface StatechartLayout {
  id: string;
  direction: ChartDirection;
  width: number;
  height: number;
  states: PlacedState[];
  transitions: PlacedTransition[];
  initials: PlacedInitial[];
}

/**
 * Text metrics the browser must honour: state names in 13px and edge labels
 * in 11px of a monospace font (a monospace advance is 0.6 em), so boxes fit
 * their text without measuring in a browser.
 */
export const CHART_TEXT = { stateFontPx: 13, labelFontPx: 11, charEm: 0.6, lineHeightPx: 16 } as const;

const PAD_X = 14;
const STATE_MIN_WIDTH = 84;
const ATOMIC_HEIGHT = 36;
const MARKER = 12;

const textWidth = (text: string, fontPx: number) => Math.ceil(text.length * fontPx * CHART_TEXT.charEm);

/** The lines a state box shows under its name. */
export function stateDetailLines(s: ChartState): string[] {
  return s.invokes.map((src) => `invoke ${src}`);
}

const elkId = {
  state: (path: string) => `s:${path}`,
  initial: (path: string) => `i:${path}`,
};

function headerWidth(s: ChartState): number {
  const lines = [s.key, ...stateDetailLines(s)];
  return Math.max(STATE_MIN_WIDTH, ...lines.map((l) => textWidth(l, CHART_TEXT.stateFontPx))) + 2 * PAD_X;
}

function headerHeight(s: ChartState): number {
  return 10 + CHART_TEXT.lineHeightPx * (1 + stateDetailLines(s).length) + 6;
}

function edgeLabel(t: ChartTransition): string {
  return t.guard ? `${t.label} [${t.guard}]` : t.label;
}

/** Ancestors of a path, nearest first, ending with the root (`""`). */
function ancestors(path: string, parents: Map<string, string | undefined>): string[] {
  const out: string[] = [];
  for (let p = parents.get(path); p !== undefined; p = parents.get(p)) out.push(p);
  return out;
}

/**
 * The ELK node an edge belongs to: the deepest state that strictly contains
 * both ends (ELK's containment convention; a self-loop belongs to its
 * state's parent).
 */
function containerOf(source: string, target: string, parents: Map<string, string | undefined>): string | undefined {
  const up = ancestors(source, parents);
  const targetUp = new Set(ancestors(target, parents));
  return up.find((a) => targetUp.has(a));
}

/** Which way transitions flow: `DOWN` (top to bottom) or `RIGHT` (left to right). */
export type ChartDirection = "DOWN" | "RIGHT";

/**
 * Options of every graph level: ELK reads most of them from the node whose
 * children it places, so nested states need them too.
 */
const LAYERED = {
  "elk.algorithm": "layered",
  "elk.edgeRouting": "ORTHOGONAL",
  "elk.layered.spacing.nodeNodeBetweenLayers": "56",
  "elk.spacing.nodeNode": "36",
  "elk.spacing.edgeLabel": "4",
  "elk.spacing.edgeEdge": "14",
  // states left to right from the initial one; back edges (a turn returning to idle) run right to left.
  // (considerModelOrder would keep declaration order too, but crashes ELK 0.12 on nested graphs)
  "elk.layered.cycleBreaking.strategy": "DEPTH_FIRST",
} as const;

function buildElkGraph(chart: Statechart, direction: ChartDirection): ElkNode {
  const parents = new Map<string, string | undefined>(chart.states.map((s) => [s.path, s.parent]));
  const nodes = new Map<string, ElkNode>();
  const root: ElkNode = {
    id: "chart",
    layoutOptions: {
      ...LAYERED,
      "elk.direction": direction,
      "elk.hierarchyHandling": "INCLUDE_CHILDREN",
      "elk.json.shapeCoords": "ROOT",
      "elk.json.edgeCoords": "ROOT",
      "elk.padding": "[top=12,left=12,bottom=12,right=12]",
    },
    children: [],
    edges: [],
  };
  const containerNode = (path: string | undefined) => (path === undefined ? root : nodes.get(elkId.state(path))!);

  for (const s of chart.states) {
    const hasChildren = s.type === "compound" || s.type === "parallel";
    const n: ElkNode = hasChildren
      ? {
          id: elkId.state(s.path),
          children: [],
          edges: [],
          layoutOptions: {
            ...LAYERED,
            // parallel regions side by side across the flow, like the usual statechart notation
            "elk.direction": s.type === "parallel" ? (direction === "DOWN" ? "RIGHT" : "DOWN") : direction,
            "elk.padding": `[top=${headerHeight(s) + 6},left=14,bottom=14,right=14]`,
            "elk.nodeSize.constraints": "MINIMUM_SIZE",
            "elk.nodeSize.minimum": `(${headerWidth(s)},${headerHeight(s) + 40})`,
          },
        }
      : s.type === "history"
        ? { id: elkId.state(s.path), width: 30, height: 30 }
        : { id: elkId.state(s.path), width: headerWidth(s), height: Math.max(ATOMIC_HEIGHT, headerHeight(s)) };
    nodes.set(n.id, n);
    containerNode(s.parent).children!.push(n);
    if (s.initial !== undefined) {
      const own = containerNode(s.path);
      own.children!.push({ id: elkId.initial(s.path), width: MARKER, height: MARKER });
      own.edges!.push({ id: `ie:${s.path}`, sources: [elkId.initial(s.path)], targets: [elkId.state(s.initial)] });
    }
  }

  for (const t of chart.transitions) {
    const target = t.target ?? t.source;
    const text = edgeLabel(t);
    const label: ElkLabel = { id: `l:${t.id}`, text, width: textWidth(text, CHART_TEXT.labelFontPx) + 6, height: CHART_TEXT.lineHeightPx };
    const edge: ElkExtendedEdge = { id: `e:${t.id}`, sources: [elkId.state(t.source)], targets: [elkId.state(target)], labels: [label] };
    containerNode(containerOf(t.source, target, parents)).edges!.push(edge);
  }
  return root;
}

function routeOf(edge: ElkExtendedEdge | undefined): Point[] {
  const s = edge?.sections?.[0];
  if (!s) return [];
  const pt = (p: ElkPoint) => ({ x: round(p.x), y: round(p.y) });
  return [pt(s.startPoint), ...(s.bendPoints ?? []).map(pt), pt(s.endPoint)];
}

const round = (n: number) => Math.round(n * 10) / 10;

function boxOf(n: { x?: number; y?: number; width?: number; height?: number } | undefined): Box {
  return { x: round(n?.x ?? 0), y: round(n?.y ?? 0), width: round(n?.width ?? 0), height: round(n?.height ?? 0) };
}

/** Collects every node and edge of a laid-out ELK graph by id. */
function index(root: ElkNode): { nodes: Map<string, ElkNode>; edges: Map<string, ElkExtendedEdge> } {
  const nodes = new Map<string, ElkNode>();
  const edges = new Map<string, ElkExtendedEdge>();
  const walk = (n: ElkNode) => {
    nodes.set(n.id, n);
    for (const e of n.edges ?? []) edges.set(e.id, e);
    for (const c of n.children ?? []) walk(c);
  };
  walk(root);
  return { nodes, edges };
}

/** Lays out a statechart in one direction (ELK is loaded on first use: it is large and only the live view needs it). */
export async function layoutStatechartTowards(chart: Statechart, direction: ChartDirection): Promise<StatechartLayout> {
  // elkjs is CommonJS: its module object is the constructor, which also names itself `default`
  const { default: elkjs } = await import("elkjs");
  const elk = new elkjs.default();
  const laid = await elk.layout(buildElkGraph(chart, direction));
  const { nodes, edges } = index(laid);
  const states = chart.states.map((s) => ({ ...s, ...boxOf(nodes.get(elkId.state(s.path))) }));
  const transitions = chart.transitions.map((t) => {
    const e = edges.get(`e:${t.id}`);
    const label = e?.labels?.[0];
    return { ...t, points: routeOf(e), ...(label ? { labelBox: boxOf(label) } : {}) };
  });
  const initials = chart.states
    .filter((s) => s.initial !== undefined)
    .map((s) => ({ state: s.path, target: s.initial!, marker: boxOf(nodes.get(elkId.initial(s.path))), points: routeOf(edges.get(`ie:${s.path}`)) }));
  return { id: chart.id, direction, width: round(laid.width ?? 0), height: round(laid.height ?? 0), states, transitions, initials };
}

/** The pane the browser draws charts in (px), for choosing an orientation. */
const VIEWPORT = { width: 760, height: 560 };

/** How large a chart is drawn when shrunk to fit the pane (1 = natural size). */
function fitScale(l: StatechartLayout): number {
  return Math.min(1, VIEWPORT.width / Math.max(1, l.width), VIEWPORT.height / Math.max(1, l.height));
}

/**
 * Lays out a statechart top-down and left-to-right and keeps the one that is
 * drawn larger in the live view's pane (so its text stays legible).
 */
export async function layoutStatechart(chart: Statechart): Promise<StatechartLayout> {
  const down = await layoutStatechartTowards(chart, "DOWN");
  const right = await layoutStatechartTowards(chart, "RIGHT");
  return fitScale(right) > fitScale(down) ? right : down;
}
