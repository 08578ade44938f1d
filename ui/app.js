/**
 * The live view: picks an actor kind and an actor (or follows whichever
 * actor of the kind moved last), draws the actor's statechart (its kind's,
 * or for a session its agent kind's) with its current states highlighted,
 * and keeps the transitions, the persisted context and the cluster up to
 * date from /ui/events.
 */
import { getJson, openEvents } from "./api.js";
import { markSelected, renderActorList, updateActorState } from "./actors.js";
import { activePaths, renderChart } from "./chart.js";
import { renderCluster } from "./cluster.js";
import { renderContext, renderPairing, renderTransitions } from "./inspector.js";

const $ = (id) => document.getElementById(id);
const ui = {
  kind: $("kind"),
  refresh: $("refresh"),
  search: $("search"),
  watchAll: $("watch-all"),
  actorCount: $("actor-count"),
  actorList: $("actor-list"),
  chartTitle: $("chart-title"),
  fit: $("fit"),
  selection: $("selection"),
  chart: $("chart"),
  transitions: $("transitions"),
  context: $("context"),
  pairing: $("pairing"),
  connection: $("connection"),
  cluster: { summary: $("cluster-summary"), meta: $("cluster-meta"), members: $("members"), partitions: $("partitions") },
};

const MAX_EVENTS = 40;
const MAX_ACTORS_REMEMBERED = 500;
/** in follow mode, the least time an actor stays on screen before the view moves to another */
const FOLLOW_HOLD_MS = 1_000;
const REFRESH_LIST_MS = 5_000;

const state = {
  /** kind → its default layout (the first listed) */
  machines: new Map(),
  /** `kind/machine` → layout, for kinds with several machines (sessions: one per agent kind) */
  named: new Map(),
  /** the layout drawn now */
  drawn: undefined,
  font: undefined,
  kind: undefined,
  /** follow the actor of the kind that moved last */
  follow: true,
  /** { kind, id, agent?, session?, machine? } */
  selected: undefined,
  /** actor id → its events, newest first */
  events: new Map(),
  /** actor id → last known state value */
  values: new Map(),
  /** actors as last listed, by id */
  listed: new Map(),
  chart: undefined,
  closeEvents: undefined,
  contextTimers: [],
  contextGeneration: 0,
  followHoldUntil: 0,
  followTimer: undefined,
};

const plural = (kind) => (kind.endsWith("s") ? kind : `${kind}s`);
const describe = (a) => (a.kind === "session" && a.agent !== undefined ? `${a.agent} · ${a.session}` : a.id);

/** `a.b|c.d` (an actor listing's state) → `{ a: "b", c: "d" }`, the shape of an XState value. */
function valueFromStateName(name) {
  if (!name) return undefined;
  const regions = name.split("|").map((r) => r.split("."));
  if (regions.length === 1 && regions[0].length === 1) return name;
  const value = {};
  for (const keys of regions) {
    if (keys.length < 2) continue;
    let node = value;
    for (const k of keys.slice(0, -2)) node = node[k] ??= {};
    node[keys[keys.length - 2]] = keys[keys.length - 1];
  }
  return value;
}

function labelOf(event) {
  return state.drawn?.transitions.find((t) => t.event === event)?.label ?? event;
}

/** The layout an actor is drawn with: its own machine's, else its kind's default. */
const layoutOf = (kind, machine) => (machine !== undefined && state.named.get(`${kind}/${machine}`)) || state.machines.get(kind);

/** Draws `layout`, unless it is drawn already. */
function draw(layout) {
  if (layout === state.drawn) return;
  state.drawn = layout;
  state.chart?.dispose();
  state.chart = layout ? renderChart(ui.chart, layout, state.font) : undefined;
  state.chart?.setFit(ui.fit.getAttribute("aria-pressed") === "true");
}

// ---- selection and the event stream ------------------------------------------------

function connect(target) {
  state.closeEvents?.();
  renderPairing(ui.pairing, undefined);
  ui.connection.dataset.status = "connecting";
  ui.connection.textContent = "connecting…";
  state.closeEvents = openEvents(target, {
    actor: onActorEvent,
    cluster: (view) => renderCluster(ui.cluster, view),
    pairing: (p) => renderPairing(ui.pairing, p),
    status: (s, hello) => {
      ui.connection.dataset.status = s;
      ui.connection.textContent = s === "open" ? `live · ${hello?.node ?? ""}` : "reconnecting…";
    },
  });
}

function showSelection() {
  const s = state.selected;
  draw(layoutOf(state.kind, s?.machine));
  const layout = state.drawn;
  ui.chartTitle.textContent = layout ? `${state.kind} · machine ${layout.machine ?? layout.id}` : state.kind;
  if (!s) {
    ui.selection.textContent = state.follow ? `following all ${plural(state.kind)}: waiting for one to move…` : "";
    state.chart?.setActive(undefined);
    renderTransitions(ui.transitions, [], labelOf);
    renderContext(ui.context, undefined, "Pick an actor to see its state.");
    return;
  }
  const value = state.values.get(s.id) ?? valueFromStateName(state.listed.get(s.id)?.state);
  ui.selection.textContent = `${state.follow ? "following latest: " : ""}${describe(s)}`;
  state.chart?.setActive(value);
  renderTransitions(ui.transitions, state.events.get(s.id) ?? [], labelOf);
  markSelected(ui.actorList, s.id);
}

/** Follows every actor of the current kind; the latest to move is shown. */
function followAll() {
  state.follow = true;
  ui.watchAll.classList.add("active");
  ui.watchAll.setAttribute("aria-pressed", "true");
  connect({ kind: state.kind });
  showSelection();
}

/** Shows one actor and watches only it. */
function pick(actor) {
  state.follow = false;
  clearTimeout(state.followTimer);
  ui.watchAll.classList.remove("active");
  ui.watchAll.setAttribute("aria-pressed", "false");
  state.selected = { kind: actor.kind, id: actor.id, agent: actor.agent, session: actor.session, machine: actor.machine };
  connect({ kind: actor.kind, id: actor.id });
  showSelection();
  refreshContext(0);
}

/** Remembers an actor's event (newest first); the least recently moved actors are forgotten first. */
function remember(e) {
  const list = state.events.get(e.id) ?? [];
  if (!list.some((x) => x.node === e.node && x.seq === e.seq)) {
    list.unshift(e);
    list.length = Math.min(list.length, MAX_EVENTS);
  }
  // re-inserted so the map's order is least recently moved first
  state.events.delete(e.id);
  state.events.set(e.id, list);
  state.values.delete(e.id);
  state.values.set(e.id, e.value);
  for (const m of [state.events, state.values]) {
    while (m.size > MAX_ACTORS_REMEMBERED) m.delete(m.keys().next().value);
  }
  return list;
}

/** In follow mode: shows `id`, the actor that moved last (drawn with `machine`, the one its event named). */
function followTo(id, machine) {
  const listed = state.listed.get(id);
  state.selected = { kind: state.kind, id, agent: listed?.agent, session: listed?.session, machine: machine ?? listed?.machine };
  if (!listed && state.kind === "session") {
    const [agent, session] = id.split(".").map(decodeToken);
    Object.assign(state.selected, { agent, session });
  }
  state.followHoldUntil = Date.now() + FOLLOW_HOLD_MS;
  showSelection();
  refreshContext(0);
}

function onActorEvent(e) {
  const list = remember(e);
  if (!updateActorState(ui.actorList, e.id, e.state)) scheduleListRefresh();
  if (e.kind !== state.kind) return;

  if (state.follow && state.selected?.id !== e.id) {
    // under load every event may come from another actor: hold each one on screen for a moment,
    // then move to whichever moved last
    clearTimeout(state.followTimer);
    const wait = (state.followHoldUntil ?? 0) - Date.now();
    if (wait <= 0) followTo(e.id, e.machine);
    else state.followTimer = setTimeout(() => state.follow && state.kind === e.kind && followTo(e.id, e.machine), wait);
    return;
  }
  if (state.selected?.id !== e.id) return;
  if (e.machine !== undefined && e.machine !== state.selected.machine) {
    // picked before its machine was known (or its agent changed kind): drawn again with its own
    state.selected.machine = e.machine;
    showSelection();
  }
  const before = new Set(state.chart ? [...ui.chart.querySelectorAll("g.state.active")].map((g) => g.dataset.state) : []);
  const after = state.chart?.setActive(e.value) ?? new Set();
  state.chart?.flash(e.event, before, after);
  renderTransitions(ui.transitions, list, labelOf);
  // the snapshot is written after the turn's last transition: read it now and once more a little later
  refreshContext(250, 1_500);
}

/** Decodes a subject token (`=HH` escapes), as src/bus/subjects.ts encodes them. */
function decodeToken(token) {
  if (token === "=") return "";
  try {
    return decodeURIComponent(token.replace(/=([0-9A-Fa-f]{2})/g, "%$1"));
  } catch {
    return token;
  }
}

// ---- context ------------------------------------------------------------------------

function refreshContext(...delays) {
  for (const t of state.contextTimers) clearTimeout(t);
  state.contextTimers = delays.map((ms) => setTimeout(loadContext, ms));
}

async function loadContext() {
  const s = state.selected;
  const generation = ++state.contextGeneration;
  if (!s) return;
  if (s.kind !== "session") {
    const value = state.values.get(s.id);
    renderContext(ui.context, undefined, `${plural(s.kind)} keep no persisted context.\nCurrent state value:\n${JSON.stringify(value ?? null, null, 2)}`);
    return;
  }
  try {
    const detail = await getJson(`/ui/api/actors/session/${encodeURIComponent(s.id)}`);
    if (generation === state.contextGeneration) renderContext(ui.context, detail);
  } catch (e) {
    if (generation !== state.contextGeneration) return;
    renderContext(
      ui.context,
      undefined,
      e.status === 404 ? "No persisted state yet: a session's snapshot is written when its first turn ends." : `Could not read the context: ${e.message}`,
    );
  }
}

// ---- the actor list -----------------------------------------------------------------

let listTimer;
let listDueAt = 0;
/** Lists the actors again within `ms`; an earlier refresh already planned is not postponed. */
function scheduleListRefresh(ms = 600) {
  const due = Date.now() + ms;
  if (listTimer !== undefined && listDueAt <= due) return;
  clearTimeout(listTimer);
  listDueAt = due;
  listTimer = setTimeout(refreshList, ms);
}

let listGeneration = 0;
let searchTimer;
function onSearchInput() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(refreshList, 250);
}

async function refreshList() {
  clearTimeout(listTimer);
  listTimer = undefined;
  const params = new URLSearchParams({ kind: state.kind });
  const q = ui.search.value.trim();
  if (q) params.set("q", q);
  const generation = ++listGeneration;
  try {
    const { actors, nodes } = await getJson(`/ui/api/actors?${params}`);
    // an answer to an older search or kind arriving late is dropped
    if (generation !== listGeneration) return;
    state.listed = new Map(actors.map((a) => [a.id, a]));
    ui.actorCount.textContent =
      `${actors.length} live ${actors.length === 1 ? state.kind : plural(state.kind)} on ${nodes.length} ` + `node${nodes.length === 1 ? "" : "s"}`;
    renderActorList(ui.actorList, actors, { selectedId: state.selected?.id, onPick: pick });
  } catch (e) {
    ui.actorCount.textContent = `Could not list actors: ${e.message}`;
  } finally {
    scheduleListRefresh(REFRESH_LIST_MS);
  }
}

// ---- kinds --------------------------------------------------------------------------

function selectKind(kind) {
  state.kind = kind;
  state.selected = undefined;
  clearTimeout(state.followTimer);
  state.followHoldUntil = 0;
  ui.kind.value = kind;
  ui.watchAll.textContent = `Watch all ${plural(kind)}`;
  ui.search.placeholder = kind === "session" ? "Search agent or chat…" : `Search ${plural(kind)}…`;
  draw(state.machines.get(kind));
  followAll();
  void refreshList();
}

async function start() {
  ui.watchAll.addEventListener("click", followAll);
  ui.fit.addEventListener("click", () => {
    const fit = ui.fit.getAttribute("aria-pressed") !== "true";
    ui.fit.setAttribute("aria-pressed", String(fit));
    ui.fit.textContent = fit ? "Fit" : "1:1";
    state.chart?.setFit(fit);
  });
  ui.refresh.addEventListener("click", () => void refreshList());
  ui.search.addEventListener("input", onSearchInput);
  ui.kind.addEventListener("change", () => selectKind(ui.kind.value));
  // a 503 still carries a view: the node's readiness says why the cluster cannot be read
  fetch("/ui/api/cluster", { headers: { accept: "application/json" } })
    .then((res) => res.json())
    .then((view) => renderCluster(ui.cluster, view))
    .catch((e) => (ui.cluster.meta.textContent = `cluster unavailable: ${e.message}`));
  try {
    const { machines, text } = await getJson("/ui/api/machines");
    state.font = text;
    for (const m of machines) {
      if (!state.machines.has(m.kind)) state.machines.set(m.kind, m);
      if (m.machine !== undefined) state.named.set(`${m.kind}/${m.machine}`, m);
    }
    ui.kind.replaceChildren(...[...state.machines.keys()].map((kind) => new Option(kind, kind)));
    selectKind(state.machines.has("session") ? "session" : machines[0].kind);
  } catch (e) {
    ui.chart.textContent = `Could not load the statecharts: ${e.message}`;
  }
}

void start();
