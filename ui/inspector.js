/**
 * The selected actor (right pane): its last transitions, newest first, and
 * its persisted context as JSON.
 */

const time = (ts) => new Date(ts).toLocaleTimeString(undefined, { hour12: false }) + "." + String(ts % 1000).padStart(3, "0");

/**
 * Renders the transitions of one actor. `labelOf(event)` names an event type
 * as the chart does (`done: model` for `xstate.done.actor.0.session.thinking`).
 */
export function renderTransitions(list, events, labelOf) {
  const items = events.map((e) => {
    const li = document.createElement("li");
    li.className = "transition-item";
    li.dataset.event = e.event;
    li.dataset.state = e.state;
    li.title = `${e.event} on ${e.node} (seq ${e.seq}, ${e.status})`;
    const when = document.createElement("time");
    when.textContent = time(e.ts);
    const ev = document.createElement("span");
    ev.className = "event";
    ev.textContent = e.event === "@claw.watch" ? "(watching from)" : labelOf(e.event);
    const to = document.createElement("span");
    to.className = "to-state";
    to.textContent = e.status === "active" ? e.state : `${e.state} (${e.status})`;
    li.append(when, ev, document.createTextNode(" → "), to);
    return li;
  });
  list.replaceChildren(...items);
  if (items.length === 0) {
    const li = document.createElement("li");
    li.className = "empty muted";
    li.textContent = "No transitions seen yet.";
    list.append(li);
  }
}

/** Shows a persisted context (or a note why there is none). */
export function renderContext(pre, detail, note) {
  pre.classList.toggle("muted", !detail);
  pre.textContent = detail ? JSON.stringify(detail.context, null, 2) : note;
  pre.dataset.revision = detail ? String(detail.revision) : "";
}
