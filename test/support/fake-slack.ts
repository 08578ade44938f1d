/**
 * A local fake of Slack's Web API (`https://slack.com/api/<method>`) for
 * tests — @slack/web-api pointed at it with `slackApiUrl` — and a sender of
 * Events API requests signed as Slack signs them
 * (`v0=HMAC-SHA256(secret, "v0:<timestamp>:<body>")`).
 *
 * Socket Mode as Slack runs it: `apps.connections.open` (with the app-level
 * token) answers a `ws://` URL; a connection is greeted with `hello`; events
 * come as `events_api` envelopes that the app acknowledges with their
 * `envelope_id`; one not acknowledged within 3 s — or still unacknowledged
 * when a new connection opens — is sent again with `retry_attempt` raised.
 * Slack lets an app hold several connections and spreads events over them,
 * so two nodes running one account would not be refused: the fake records
 * how many sockets were open whenever one opened, for tests to assert one.
 */
import { createHmac, randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { WebSocketServer, type WebSocket } from "ws";

/** One recorded Web API call. */
export interface SlackCall {
  method: string;
  payload: Record<string, string>;
  ok: boolean;
  at: number;
}

/** An answer the fake gives instead of success. */
export type SlackFailure = { status: 429; retryAfter: number } | { status: 200; error: string } | { status: 500 | 502 | 503 };

/** The running fake. */
export interface FakeSlack extends AsyncDisposable {
  /** for `slackApiUrl` / Claw's `apiUrl` (ends with a slash) */
  readonly apiUrl: string;
  readonly calls: SlackCall[];
  failNext(method: string, n: number, failure: SlackFailure): void;
  /** takes the next `n` calls of `method` and never answers them (the call is recorded, not ok) */
  holdNext(method: string, n: number): void;
  /** `chat.postMessage` texts that succeeded, by channel, with their thread */
  posted(channel: string): Array<{ text: string; thread_ts?: string; blocks?: unknown[] }>;
  /**
   * Socket Mode: delivers a payload as an envelope (queued while no socket is open): an Events API
   * event, or with `type: "interactive"` a button press (`block_actions`)
   */
  sendSocketEvent(payload: Record<string, unknown>, type?: "events_api" | "interactive"): string;
  /** Socket Mode: envelope ids the app acknowledged, in order, and how often each was delivered */
  readonly socket: {
    acked: string[];
    deliveries: Map<string, number>;
    connects: number;
    open(): number;
    /** the most sockets open at once since `since` (ms since epoch), counted whenever one opened */
    mostOpenSince(since: number): number;
  };
  /** Socket Mode: cuts every open socket (as a network fault would) */
  dropSockets(): void;
  /** Socket Mode: asks the app to reconnect, as Slack does before recycling a connection */
  askToReconnect(): void;
  close(): Promise<void>;
}

export async function startFakeSlack(botToken: string, o: { appToken?: string } = {}): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<WebSocket>();
  const pending = new Map<string, { payload: Record<string, unknown>; type: string; sentAt: number; attempt: number }>();
  /** how many sockets were open when one opened, and when */
  const opened: Array<{ at: number; open: number }> = [];
  const socket = {
    acked: [] as string[],
    deliveries: new Map<string, number>(),
    connects: 0,
    open: () => sockets.size,
    mostOpenSince: (since: number) => Math.max(0, ...opened.filter((o) => o.at >= since).map((o) => o.open)),
  };
  const deliver = (id: string) => {
    const p = pending.get(id)!;
    const ws = [...sockets].at(-1);
    if (!ws) return;
    p.sentAt = Date.now();
    socket.deliveries.set(id, (socket.deliveries.get(id) ?? 0) + 1);
    ws.send(
      JSON.stringify({
        envelope_id: id,
        type: p.type,
        payload: p.payload,
        accepts_response_payload: false,
        retry_attempt: p.attempt,
        retry_reason: p.attempt ? "timeout" : "",
      }),
    );
    p.attempt++;
  };
  wss.on("connection", (ws) => {
    sockets.add(ws);
    socket.connects++;
    opened.push({ at: Date.now(), open: sockets.size });
    ws.on("close", () => sockets.delete(ws));
    ws.on("message", (raw) => {
      const m = JSON.parse(String(raw)) as { envelope_id?: string };
      if (m.envelope_id && pending.delete(m.envelope_id)) socket.acked.push(m.envelope_id);
    });
    ws.send(JSON.stringify({ type: "hello", num_connections: sockets.size, debug_info: { host: "fake" }, connection_info: { app_id: "A1" } }));
    for (const id of pending.keys()) deliver(id);
  });
  const resend = setInterval(() => {
    for (const [id, p] of pending) if (p.attempt === 0 || Date.now() - p.sentAt > 3_000) deliver(id);
  }, 250);
  const failures = new Map<string, SlackFailure[]>();
  const holds = new Map<string, number>();
  let ts = 1_700_000_000;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const payload = (req.headers["content-type"] ?? "").includes("json")
      ? (JSON.parse(text || "{}") as Record<string, string>)
      : Object.fromEntries(new URLSearchParams(text));
    const method = (req.url ?? "").replace(/^\/api\//, "").split("?")[0]!;
    const call: SlackCall = { method, payload, ok: false, at: Date.now() };
    calls.push(call);
    const json = (status: number, v: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(v));
    };
    const token = method === "apps.connections.open" ? o.appToken : botToken;
    if (!token || (req.headers.authorization !== `Bearer ${token}` && payload.token !== token)) return json(200, { ok: false, error: "invalid_auth" });
    const held = holds.get(method) ?? 0;
    if (held > 0) {
      // taken and never answered (closed with the server)
      holds.set(method, held - 1);
      return;
    }
    const f = failures.get(method)?.shift();
    if (f?.status === 429) return json(429, { ok: false, error: "ratelimited" }, { "retry-after": String(f.retryAfter) });
    if (f && f.status >= 500) return json(f.status, { ok: false, error: "internal_error" });
    if (f && "error" in f) return json(200, { ok: false, error: f.error });
    call.ok = true;
    if (method === "auth.test")
      return json(200, { ok: true, url: "https://fake.slack.com/", team: "Fake", user: "claw", team_id: "T1", user_id: "UBOT", bot_id: "BBOT" });
    if (method === "chat.postMessage") return json(200, { ok: true, channel: payload.channel, ts: `${ts++}.000100`, message: { text: payload.text } });
    if (method === "apps.connections.open") return json(200, { ok: true, url: `ws://127.0.0.1:${port}/link/?ticket=${randomUUID()}` });
    if (method === "chat.update") return json(200, { ok: true, channel: payload.channel, ts: payload.ts, text: payload.text });
    return json(200, { ok: false, error: "unknown_method" });
  });
  server.on("upgrade", (req, sock, head) => {
    if (!(req.url ?? "").startsWith("/link")) return sock.destroy();
    wss.handleUpgrade(req, sock, head, (ws) => wss.emit("connection", ws, req));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  const fake: FakeSlack = {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    calls,
    failNext(method, n, failure) {
      failures.set(method, [...(failures.get(method) ?? []), ...Array.from({ length: n }, () => failure)]);
    },
    holdNext(method, n) {
      holds.set(method, (holds.get(method) ?? 0) + n);
    },
    posted(channel) {
      return calls
        .filter((c) => c.ok && c.method === "chat.postMessage" && c.payload.channel === channel)
        .map((c) => ({
          text: c.payload.text!,
          ...(c.payload.thread_ts ? { thread_ts: c.payload.thread_ts } : {}),
          ...(c.payload.blocks ? { blocks: typeof c.payload.blocks === "string" ? JSON.parse(c.payload.blocks) : c.payload.blocks } : {}),
        }));
    },
    sendSocketEvent(payload, type = "events_api") {
      const id = randomUUID();
      pending.set(id, { payload, type, sentAt: 0, attempt: 0 });
      deliver(id);
      return id;
    },
    socket,
    dropSockets() {
      for (const ws of sockets) ws.terminate();
    },
    askToReconnect() {
      for (const ws of sockets) ws.send(JSON.stringify({ type: "disconnect", reason: "refresh_requested", debug_info: { host: "fake" } }));
    },
    async close() {
      clearInterval(resend);
      for (const ws of sockets) ws.terminate();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
    [Symbol.asyncDispose]() {
      return fake.close();
    },
  };
  return fake;
}

/** Posts an Events API request to `url`, signed with `secret` (at `timestamp`, default now). */
export async function sendSlackEvent(
  url: string,
  secret: string,
  body: unknown,
  o: { timestamp?: number; signature?: string; retryNum?: number } = {},
): Promise<{ status: number; body: any }> {
  const raw = JSON.stringify(body);
  const timestamp = o.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = o.signature ?? `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${raw}`).digest("hex")}`;
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-slack-request-timestamp": String(timestamp),
      "x-slack-signature": signature,
      ...(o.retryNum ? { "x-slack-retry-num": String(o.retryNum), "x-slack-retry-reason": "http_timeout" } : {}),
    },
    body: raw,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** An `event_callback` with a message event. */
export function messageEvent(
  e: { channel: string; text: string; ts: string; user?: string; thread_ts?: string; channel_type?: string; type?: string },
  eventId = `Ev${e.ts.replace(".", "")}`,
): Record<string, unknown> {
  return {
    type: "event_callback",
    team_id: "T1",
    api_app_id: "A1",
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    event: {
      type: e.type ?? "message",
      channel: e.channel,
      user: e.user ?? "U1",
      text: e.text,
      ts: e.ts,
      channel_type: e.channel_type ?? "channel",
      ...(e.thread_ts ? { thread_ts: e.thread_ts } : {}),
    },
  };
}
