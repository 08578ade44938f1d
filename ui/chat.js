// The web chat: one WebSocket to /v1/ws, reconnecting with backoff; every reply is acked by id
// (ack=client), so a reply that arrived while the page was away comes on the next connection, and
// one seen twice is shown once. The session is this browser's: the node mints a secret in the first
// hello frame and the page keeps it (localStorage) and comes back with ?token= — the session id
// shown below is public, and is not enough to reach the conversation.
const $ = (id) => document.getElementById(id);
const list = $("messages");
const status = $("status");
const STORAGE = "claw.chat.token";
let token = localStorage.getItem(STORAGE) || undefined;
const seen = new Set();
let socket;
let attempt = 0;
const outbox = [];

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
  const url = new URL("/v1/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (token) url.searchParams.set("token", token);
  url.searchParams.set("ack", "client");
  setStatus("connecting", "connecting…");
  const ws = new WebSocket(url);
  socket = ws;
  let streaming;
  ws.onopen = () => {
    attempt = 0;
    while (outbox.length) ws.send(outbox.shift());
  };
  ws.onmessage = (ev) => {
    const f = JSON.parse(ev.data);
    if (f.type === "hello") {
      // a new session: its secret is given once, here
      if (f.token) localStorage.setItem(STORAGE, (token = f.token));
      $("session").textContent = f.session;
      setStatus("open", "connected");
    } else if (f.type === "reply") {
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
  const id = crypto.randomUUID();
  show(text, "mine", id);
  const frame = JSON.stringify({ text, id });
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(frame);
  else outbox.push(frame);
});

$("new-session").addEventListener("click", () => {
  localStorage.removeItem(STORAGE);
  token = undefined;
  seen.clear();
  list.replaceChildren();
  const old = socket;
  socket = undefined;
  old?.close();
  connect();
});

connect();
