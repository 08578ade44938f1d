// The web chat: one WebSocket to /v1/ws with the session kept in localStorage, reconnecting with
// backoff; every reply is acked by id (ack=client), so a reply that arrived while the page was away
// comes on the next connection, and one seen twice is shown once.
const $ = (id) => document.getElementById(id);
const list = $("messages");
const status = $("status");
const STORAGE = "claw.chat.session";
let session = localStorage.getItem(STORAGE) || newSession();
const seen = new Set();
let socket;
let attempt = 0;
const outbox = [];

function newSession() {
  const id = `web-${crypto.randomUUID()}`;
  localStorage.setItem(STORAGE, id);
  return id;
}

function show(text, cls, id) {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  if (id) li.dataset.id = id;
  list.append(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

function setStatus(s, text) {
  status.dataset.status = s;
  status.textContent = text;
}

function connect() {
  $("session").textContent = session;
  const url = new URL("/v1/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("session", session);
  url.searchParams.set("ack", "client");
  setStatus("connecting", "connecting…");
  const ws = new WebSocket(url);
  socket = ws;
  let streaming;
  ws.onopen = () => {
    attempt = 0;
    setStatus("open", "connected");
    while (outbox.length) ws.send(outbox.shift());
  };
  ws.onmessage = (ev) => {
    const f = JSON.parse(ev.data);
    if (f.type === "reply") {
      ws.send(JSON.stringify({ type: "ack", id: f.id }));
      if (seen.has(f.id)) return;
      seen.add(f.id);
      if (streaming && streaming.dataset.replyTo === f.replyTo) streaming.remove();
      streaming = undefined;
      show(f.text ?? "", f.kind === "error" ? "error" : "", f.id);
    } else if (f.type === "delta") {
      if (!streaming || streaming.dataset.replyTo !== f.replyTo) {
        streaming = show("", "pending");
        streaming.dataset.replyTo = f.replyTo;
      }
      streaming.textContent += f.text ?? "";
    } else if (f.type === "error") {
      show(`${f.code}: ${f.message}`, "error");
    }
  };
  ws.onclose = (ev) => {
    if (socket !== ws) return;
    if (ev.code === 4001) return setStatus("closed", "open in another tab");
    const wait = Math.min(10_000, 250 * 2 ** attempt++) * (0.5 + Math.random() / 2);
    setStatus("closed", `disconnected; again in ${Math.round(wait / 100) / 10} s`);
    setTimeout(connect, wait);
  };
}

$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("text");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  const id = `${session}-${crypto.randomUUID()}`;
  show(text, "mine", id);
  const frame = JSON.stringify({ text, id });
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(frame);
  else outbox.push(frame);
});

$("new-session").addEventListener("click", () => {
  session = newSession();
  seen.clear();
  list.replaceChildren();
  const old = socket;
  socket = undefined;
  old?.close();
  connect();
});

connect();
