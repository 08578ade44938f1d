/**
 * A local fake of Slack's Web API (`https://slack.com/api/<method>`) for
 * tests — @slack/web-api pointed at it with `slackApiUrl` — and a sender of
 * Events API requests signed as Slack signs them
 * (`v0=HMAC-SHA256(secret, "v0:<timestamp>:<body>")`).
 */
import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";

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
  /** `chat.postMessage` texts that succeeded, by channel, with their thread */
  posted(channel: string): Array<{ text: string; thread_ts?: string }>;
  close(): Promise<void>;
}

export async function startFakeSlack(botToken: string): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  const failures = new Map<string, SlackFailure[]>();
  let ts = 1_700_000_000;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const payload = (req.headers["content-type"] ?? "").includes("json") ? (JSON.parse(text || "{}") as Record<string, string>) : Object.fromEntries(new URLSearchParams(text));
    const method = (req.url ?? "").replace(/^\/api\//, "").split("?")[0]!;
    const call: SlackCall = { method, payload, ok: false, at: Date.now() };
    calls.push(call);
    const json = (status: number, v: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(v));
    };
    if (req.headers.authorization !== `Bearer ${botToken}` && payload.token !== botToken) return json(200, { ok: false, error: "invalid_auth" });
    const f = failures.get(method)?.shift();
    if (f?.status === 429) return json(429, { ok: false, error: "ratelimited" }, { "retry-after": String(f.retryAfter) });
    if (f && f.status >= 500) return json(f.status, { ok: false, error: "internal_error" });
    if (f && "error" in f) return json(200, { ok: false, error: f.error });
    call.ok = true;
    if (method === "auth.test") return json(200, { ok: true, url: "https://fake.slack.com/", team: "Fake", user: "claw", team_id: "T1", user_id: "UBOT", bot_id: "BBOT" });
    if (method === "chat.postMessage") return json(200, { ok: true, channel: payload.channel, ts: `${ts++}.000100`, message: { text: payload.text } });
    if (method === "chat.update") return json(200, { ok: true, channel: payload.channel, ts: payload.ts, text: payload.text });
    return json(200, { ok: false, error: "unknown_method" });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  const fake: FakeSlack = {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    calls,
    failNext(method, n, failure) {
      failures.set(method, [...(failures.get(method) ?? []), ...Array.from({ length: n }, () => failure)]);
    },
    posted(channel) {
      return calls.filter((c) => c.ok && c.method === "chat.postMessage" && c.payload.channel === channel).map((c) => ({ text: c.payload.text!, ...(c.payload.thread_ts ? { thread_ts: c.payload.thread_ts } : {}) }));
    },
    async close() {
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
export async function sendSlackEvent(url: string, secret: string, body: unknown, o: { timestamp?: number; signature?: string; retryNum?: number } = {}): Promise<{ status: number; body: any }> {
  const raw = JSON.stringify(body);
  const timestamp = o.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = o.signature ?? `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${raw}`).digest("hex")}`;
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-slack-request-timestamp": String(timestamp), "x-slack-signature": signature, ...(o.retryNum ? { "x-slack-retry-num": String(o.retryNum), "x-slack-retry-reason": "http_timeout" } : {}) },
    body: raw,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** An `event_callback` with a message event. */
export function messageEvent(e: { channel: string; text: string; ts: string; user?: string; thread_ts?: string; channel_type?: string; type?: string }, eventId = `Ev${e.ts.replace(".", "")}`): Record<string, unknown> {
  return { type: "event_callback", team_id: "T1", api_app_id: "A1", event_id: eventId, event_time: Math.floor(Date.now() / 1000), event: { type: e.type ?? "message", channel: e.channel, user: e.user ?? "U1", text: e.text, ts: e.ts, channel_type: e.channel_type ?? "channel", ...(e.thread_ts ? { thread_ts: e.thread_ts } : {}) } };
}
