/**
 * The actor list (left pane): live actors of every node, newest first;
 * sessions show their agent and chat. Clicking one picks it.
 */

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children.filter((c) => c !== undefined && c !== null));
  return node;
}

/** Renders `actors` into `list`; the item of `selectedId` is marked. */
export function renderActorList(list, actors, { selectedId, onPick }) {
  const items = actors.map((a) => {
    const title =
      a.kind === "session" && a.agent !== undefined
        ? h("span", { class: "actor-name" }, h("b", {}, a.agent), " · ", a.session)
        : h("span", { class: "actor-name" }, a.id);
    const li = h(
      "li",
      {
        class: `actor${a.id === selectedId ? " selected" : ""}`,
        "data-actor-id": a.id,
        "data-kind": a.kind,
        tabIndex: 0,
        title: `${a.kind} ${a.id} on ${a.node}`,
      },
      title,
      h(
        "span",
        { class: "actor-meta" },
        h("span", { class: "state-pill", "data-actor-state": a.state }, a.state || "?"),
        h("span", { class: "muted small" }, a.node),
      ),
    );
    li.addEventListener("click", () => onPick(a));
    li.addEventListener("keydown", (e) => e.key === "Enter" && onPick(a));
    return li;
  });
  list.replaceChildren(...items);
  if (items.length === 0) list.append(h("li", { class: "empty muted" }, "No live actors of this kind. Send a message and they appear here."));
}

/** Updates one listed actor's state pill in place (from a live event); false when it is not listed. */
export function updateActorState(list, id, state) {
  const li = [...list.querySelectorAll("li.actor")].find((n) => n.dataset.actorId === id);
  const pill = li?.querySelector(".state-pill");
  if (!pill) return false;
  pill.textContent = state;
  pill.dataset.actorState = state;
  return true;
}

/** Marks the selected actor in the list. */
export function markSelected(list, id) {
  for (const li of list.querySelectorAll("li.actor")) li.classList.toggle("selected", li.dataset.actorId === id);
}
