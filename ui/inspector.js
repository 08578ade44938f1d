/**
 * The selected actor (right pane): its last transitions, newest first, and
 * its persisted context as JSON; for a channel account that asks to be paired
 * (WhatsApp), the QR code to scan or the code to type.
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

/** Shows a channel account's pairing announcement (`undefined` hides it). */
export function renderPairing(box, p) {
  box.hidden = !p;
  if (!p) return box.replaceChildren();
  const title = document.createElement("h2");
  const note = document.createElement("p");
  note.className = "muted small";
  if (p.event === "qr" && p.svg) {
    title.textContent = `Pair ${p.type} account ${p.account}`;
    note.textContent = `Scan with WhatsApp → Settings → Linked devices → Link a device (from node ${p.node ?? "?"}; a new code about every 20 s).`;
    const img = document.createElement("img");
    img.className = "qr";
    img.alt = `QR code to pair ${p.type} account ${p.account}`;
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(p.svg)}`;
    box.replaceChildren(title, img, note);
  } else if (p.event === "pairing-code" && p.code) {
    title.textContent = `Pair ${p.type} account ${p.account}`;
    const code = document.createElement("p");
    code.className = "pairing-code";
    code.textContent = p.code;
    note.textContent = "In WhatsApp → Settings → Linked devices → Link a device → Link with phone number instead, enter this code.";
    box.replaceChildren(title, code, note);
  } else if (p.event === "open") {
    title.textContent = `${p.type} account ${p.account} is linked`;
    box.replaceChildren(title);
  }
  box.dataset.event = p.event;
}
