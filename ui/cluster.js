/**
 * The cluster (top bar and bottom pane): members, leader, assignment epoch,
 * the partition map coloured by owner with each partition's backlog, and the
 * dead letters waiting.
 */

const PALETTE = ["#4f7df3", "#e0875a", "#3fb58a", "#b36fd6", "#d65f7a", "#c9a227", "#4bb4c9", "#8a8f3c"];

function cell(tag, text, className) {
  const c = document.createElement(tag);
  c.textContent = text;
  if (className) c.className = className;
  return c;
}

const ago = (ts) => `${Math.max(0, Math.round((Date.now() - ts) / 1000))} s ago`;

/** Renders a cluster view (GET /ui/api/cluster, SSE `cluster`). */
export function renderCluster({ summary, meta, members, partitions }, view) {
  const colour = new Map(view.members.map((m, i) => [m.node, PALETTE[i % PALETTE.length]]));
  const backlog = view.partitions.reduce((n, p) => n + p.pending + p.inFlight, 0);
  const dlq = view.dlq?.messages ?? view.dlq?.total;

  const ready = view.readiness?.ready !== false;
  const readiness = cell("span", ready ? `${view.node} ready` : `${view.node} not ready: ${view.readiness.reasons.join("; ")}`, ready ? "chip" : "chip bad");
  readiness.dataset.role = "readiness";
  summary.replaceChildren(
    readiness,
    cell("span", `${view.members.length} node${view.members.length === 1 ? "" : "s"}`, "chip"),
    cell("span", `leader ${view.leader ?? "none"}`, "chip"),
    cell("span", `epoch ${view.epoch}`, "chip"),
    cell("span", `backlog ${backlog}`, backlog > 0 ? "chip warn" : "chip"),
    cell("span", `DLQ ${dlq ?? "?"}`, dlq ? "chip bad" : "chip"),
  );
  summary.dataset.epoch = String(view.epoch);
  const at = new Date(view.ts).toLocaleTimeString(undefined, { hour12: false });
  meta.textContent = view.error
    ? `cluster unreadable from ${view.node} at ${at} (${view.error}); showing the last view`
    : `${view.partitions.length} partitions · as seen by ${view.node} at ${at}`;

  const head = document.createElement("tr");
  for (const t of ["node", "role", "ready", "partitions", "sessions", "version", "heartbeat"]) head.append(cell("th", t));
  const rows = view.members.map((m) => {
    const tr = document.createElement("tr");
    tr.dataset.node = m.node;
    const name = cell("td", "");
    const swatch = cell("span", "", "swatch");
    swatch.style.background = colour.get(m.node);
    name.append(swatch, m.node);
    const memberReady = m.ready === false ? cell("td", (m.notReady ?? []).join("; ") || "no", "bad") : cell("td", m.ready ? "yes" : "?");
    tr.append(
      name,
      cell("td", m.node === view.leader ? "leader" : "member"),
      memberReady,
      cell("td", String(view.partitions.filter((p) => p.owner === m.node).length)),
      cell("td", String(m.sessions)),
      cell("td", m.version),
      cell("td", ago(m.ts)),
    );
    return tr;
  });
  members.replaceChildren(head, ...rows);

  partitions.replaceChildren(
    ...view.partitions.map((p) => {
      const lag = p.pending + p.inFlight;
      const c = cell("div", lag > 0 ? String(lag) : "", `partition${lag > 0 ? " lagging" : ""}${p.owner ? "" : " unowned"}`);
      c.dataset.partition = String(p.partition);
      c.style.background = colour.get(p.owner) ?? "";
      c.title = `partition ${p.partition}: ${p.owner ?? "no owner"} · pending ${p.pending} · in flight ${p.inFlight}`;
      return c;
    }),
  );
}
