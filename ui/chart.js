/**
 * Draws a laid-out statechart (GET /ui/api/machines) as SVG and highlights
 * the states an actor is in. Each state is a <g class="state" data-state="<dotted path>">;
 * the states of the current configuration get the class `active`.
 */

const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, children = []) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
}

function text(x, y, content, attrs = {}) {
  const t = el("text", { x, y, ...attrs });
  t.textContent = content;
  return t;
}

const polyline = (points) => points.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" ");

/**
 * The paths of the states a state value is in, ancestors included:
 * `{ b: { r1: "x", r2: "p" } }` → `["", "b", "b.r1", "b.r1.x", "b.r2", "b.r2.p"]`.
 */
export function activePaths(value) {
  const out = [""];
  const walk = (v, prefix) => {
    if (typeof v === "string") {
      out.push(prefix ? `${prefix}.${v}` : v);
      return;
    }
    if (v && typeof v === "object") {
      for (const [k, inner] of Object.entries(v)) {
        const p = prefix ? `${prefix}.${k}` : k;
        out.push(p);
        walk(inner, p);
      }
    }
  };
  walk(value, "");
  return out;
}

function drawState(s, layout, font) {
  const parent = layout.states.find((p) => p.path === s.parent);
  const classes = ["state", `state-${s.type}`, s.path === "" ? "machine" : "", parent?.type === "parallel" ? "region" : ""].filter(Boolean).join(" ");
  const g = el("g", { class: classes, "data-state": s.path });
  const title = el("title");
  title.textContent = s.path === "" ? `machine ${s.key}` : `${s.path} (${s.type})`;
  g.append(title);
  if (s.type === "history") {
    g.append(el("circle", { cx: s.x + s.width / 2, cy: s.y + s.height / 2, r: s.width / 2 - 1, class: "box" }));
    g.append(text(s.x + s.width / 2, s.y + s.height / 2 + 4, s.history === "deep" ? "H*" : "H", { class: "name", "text-anchor": "middle" }));
    return g;
  }
  g.append(el("rect", { x: s.x, y: s.y, width: s.width, height: s.height, rx: 10, class: "box" }));
  if (s.type === "final") g.append(el("rect", { x: s.x + 4, y: s.y + 4, width: s.width - 8, height: s.height - 8, rx: 7, class: "inner" }));
  const compound = s.type === "compound" || s.type === "parallel";
  const cx = compound ? s.x + 14 : s.x + s.width / 2;
  const anchor = compound ? "start" : "middle";
  let y = s.y + 10 + font.stateFontPx;
  g.append(text(cx, y, s.key, { class: "name", "text-anchor": anchor }));
  if (s.type === "parallel") g.append(text(s.x + s.width - 12, s.y + 10 + font.stateFontPx, "parallel", { class: "detail", "text-anchor": "end" }));
  for (const src of s.invokes) {
    y += font.lineHeightPx;
    g.append(text(cx, y, `invoke ${src}`, { class: "detail", "text-anchor": anchor }));
  }
  return g;
}

function drawTransition(t, font) {
  const g = el("g", {
    class: `transition kind-${t.kind.replace(".", "-")}${t.target === undefined ? " targetless" : ""}`,
    "data-event": t.event,
    "data-source": t.source,
    "data-target": t.target ?? "",
  });
  const title = el("title");
  title.textContent = `${t.source || "(machine)"} → ${t.target ?? "(stays)"} on ${t.event || "always"}${t.guard ? ` if ${t.guard}` : ""}`;
  g.append(title);
  if (t.points.length > 1) g.append(el("path", { d: polyline(t.points), class: "edge", "marker-end": "url(#arrow)" }));
  if (t.labelBox) {
    const b = t.labelBox;
    g.append(el("rect", { x: b.x, y: b.y, width: b.width, height: b.height, rx: 3, class: "label-bg" }));
    const label = text(b.x + 3, b.y + b.height / 2 + font.labelFontPx * 0.35, "", { class: "label" });
    label.append(t.label);
    if (t.guard) {
      const guard = el("tspan", { class: "guard" });
      guard.textContent = ` [${t.guard}]`;
      label.append(guard);
    }
    g.append(label);
  }
  return g;
}

/**
 * Renders `layout` into `container`; returns `{ setActive(value), flash(event, fromPaths, toPaths) }`.
 * `font` is the text metrics the server laid the chart out with.
 */
export function renderChart(container, layout, font) {
  const svg = el("svg", {
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    width: layout.width,
    height: layout.height,
    class: "statechart",
    role: "img",
    "aria-label": `statechart of ${layout.kind}${layout.machine ? ` (${layout.machine})` : ""}`,
    "data-kind": layout.kind,
    "data-machine": layout.machine ?? layout.id,
    style: `--state-font:${font.stateFontPx}px;--label-font:${font.labelFontPx}px`,
  });
  svg.append(
    el("defs", {}, [
      el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, [
        el("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }),
      ]),
    ]),
  );
  const states = el("g", { class: "states" });
  for (const s of layout.states) states.append(drawState(s, layout, font));
  const initials = el("g", { class: "initials" });
  for (const i of layout.initials) {
    initials.append(
      el("g", { class: "initial", "data-initial-of": i.state }, [
        el("circle", { cx: i.marker.x + i.marker.width / 2, cy: i.marker.y + i.marker.height / 2, r: i.marker.width / 2, class: "initial-dot" }),
        ...(i.points.length > 1 ? [el("path", { d: polyline(i.points), class: "edge", "marker-end": "url(#arrow)" })] : []),
      ]),
    );
  }
  const transitions = el("g", { class: "transitions" });
  for (const t of layout.transitions) transitions.append(drawTransition(t, font));
  svg.append(states, initials, transitions);
  container.replaceChildren(svg);

  const groups = new Map([...svg.querySelectorAll("g.state")].map((g) => [g.dataset.state, g]));
  let fit = true;
  const size = () => {
    // fit: shrink (never enlarge) to the pane; otherwise natural size, scrolled
    const scale = fit ? Math.min(1, container.clientWidth / layout.width, container.clientHeight / layout.height) : 1;
    svg.setAttribute("width", String(Math.floor(layout.width * scale)));
    svg.setAttribute("height", String(Math.floor(layout.height * scale)));
  };
  const observer = new ResizeObserver(() => fit && size());
  observer.observe(container);
  size();
  return {
    svg,
    /** shrink to the pane (true) or draw at natural size (false) */
    setFit(value) {
      fit = value;
      size();
    },
    /** stops following the pane's size (before drawing another chart) */
    dispose() {
      observer.disconnect();
    },
    /** marks the states of `value` active (undefined clears) */
    setActive(value) {
      const active = new Set(value === undefined ? [] : activePaths(value));
      for (const [path, g] of groups) g.classList.toggle("active", active.has(path));
      return active;
    },
    /** briefly highlights the transitions of `event` that led from one configuration to the other */
    flash(event, from, to) {
      const stayed = from.size === to.size && [...from].every((p) => to.has(p));
      for (const g of transitions.querySelectorAll("g.transition")) {
        // a targetless transition leaves the states as they were; one with a target enters it
        const entered = g.dataset.target === "" ? stayed : to.has(g.dataset.target);
        const hit = g.dataset.event === event && from.has(g.dataset.source) && entered;
        if (!hit) continue;
        g.classList.remove("taken");
        // restart the CSS animation
        void g.getBoundingClientRect();
        g.classList.add("taken");
      }
    },
  };
}
