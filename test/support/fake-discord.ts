/**
 * A local fake of Discord for tests — the Gateway (a WebSocket) and the REST
 * API — that discord.js, pointed at it (`rest.api`, and the Gateway URL that
 * `GET /gateway/bot` answers), speaks to as to Discord.
 *
 * The Gateway as Discord runs it (JSON encoding, no compression): `HELLO`
 * (op 10) with a heartbeat interval; heartbeats (op 1) answered with op 11;
 * `IDENTIFY` (op 2) with the bot's token answered by a `READY` dispatch with
 * a `session_id` and a `resume_gateway_url` (a wrong token closes 4004);
 * dispatches numbered by the session's sequence (`s`); `RESUME` (op 6) with
 * the session id and the last sequence seen answered by the dispatches after
 * it, then `RESUMED` (an unknown session: op 9, not resumable). A dropped
 * connection's session stays resumable — from any connection, as Discord's
 * does — and what is dispatched meanwhile is kept for its resume; one the
 * client closed with 1000 or 1001 is ended. A message goes to every session of the bot (as
 * Discord does to every connected shard): two connections at once show as
 * two deliveries, and the fake records how many were open.
 *
 * REST under `/api/v10`: `GET /gateway/bot`, `POST /channels/{id}/messages`
 * and `POST /channels/{id}/typing`, each checking `Authorization: Bot <token>`.
 * A message needs a `content` of at most 2,000 characters or embeds (at most
 * ten, their images by http(s) URL), as Discord's does; else 400.
 * Message creation has a per-channel bucket with Discord's headers
 * (`X-RateLimit-Limit`, `-Remaining`, `-Reset`, `-Reset-After`, `-Bucket`);
 * a request over it is answered 429 with `retry_after` (and counted: a
 * client that honours the headers never gets one), and a 429 or an error can
 * be scripted for the next requests.
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { WebSocketServer, type WebSocket } from "ws";

/** The fake bot's user id. */
export const FAKE_BOT_ID = "1100000000000000001";
const DISCORD_EPOCH = 1_420_070_400_000n;

/** One recorded REST request. */
export interface DiscordCall {
  method: string;
  /** the route under `/api/v10` */
  path: string;
  body: Record<string, any>;
  at: number;
  status: number;
}

/** A message as the fake makes it. */
export interface FakeDiscordMessage {
  channelId: string;
  content: string;
  /** a guild's channel (absent: a direct message) */
  guildId?: string;
  /** puts the bot in `mentions` and `<@bot>` before the content */
  mentionBot?: boolean;
  /** a reply to one of the bot's messages */
  replyToBot?: boolean;
  author?: { id: string; username: string; bot?: boolean };
  type?: number;
}

/** An answer the fake gives instead of success. */
export type DiscordFailure = { status: 429; retryAfter: number } | { status: 400 | 403 | 404; code: number; message: string } | { status: 500 | 502 };

interface Session {
  id: string;
  seq: number;
  /** dispatches with their sequence, for a resume */
  sent: Array<{ s: number; t: string; d: unknown }>;
  ws?: WebSocket;
}

/** The running fake. */
export interface FakeDiscord extends AsyncDisposable {
  /** for discord.js's `rest.api` (Claw's `apiRoot`) */
  readonly apiRoot: string;
  /** the Gateway's URL (what `GET /gateway/bot` answers; Claw's `gatewayUrl`) */
  readonly gatewayUrl: string;
  readonly token: string;
  readonly calls: DiscordCall[];
  readonly gateway: {
    identifies: number;
    /** each RESUME: the session and the sequence the client said it had seen */
    resumes: Array<{ sessionId: string; seq: number; known: boolean }>;
    /** dispatches replayed by resumes */
    replayed: number;
    /** heartbeats received */
    heartbeats: number;
    open(): number;
    /** the most connections open at once since `since` (ms since epoch), counted whenever one was identified or resumed */
    mostOpenSince(since: number): number;
  };
  /** 429s the fake answered that were not scripted: requests over a bucket whose headers said to wait */
  readonly unexpected429s: number;
  /** dispatches a MESSAGE_CREATE; returns the message's id */
  message(m: FakeDiscordMessage): string;
  /** closes every connection with `code` (4000, unknown error, is one the client resumes after) */
  dropConnections(code?: number): void;
  /** the next `n` requests of a route (`"POST /channels/{id}/messages"` with the id, or without it for any channel) fail so */
  failNext(route: string, n: number, failure: DiscordFailure): void;
  /** the message contents created in a channel, in order */
  posted(channelId: string): string[];
  close(): Promise<void>;
}

/** Options of {@link startFakeDiscord}. */
export interface FakeDiscordOptions {
  /** the message bucket of each channel: `limit` requests per `windowMs` (default 50 per second) */
  bucket?: { limit: number; windowMs: number };
  heartbeatIntervalMs?: number;
}

let nextSnowflake = 0n;
/** A fresh snowflake: the time since Discord's epoch, shifted, and a counter. */
export function snowflake(): string {
  return String(((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) + (nextSnowflake++ % 4096n));
}

const botUser = { id: FAKE_BOT_ID, username: "claw", global_name: null, discriminator: "0", avatar: null, bot: true };

/** Starts the fake on a free port of 127.0.0.1. */
export async function startFakeDiscord(o: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const token = `MTEwMDAwMDAwMDAwMDAwMDAwMQ.Gfake.${randomUUID().replaceAll("-", "")}`;
  const bucket = o.bucket ?? { limit: 50, windowMs: 1_000 };
  const heartbeatIntervalMs = o.heartbeatIntervalMs ?? 1_000;
  const calls: DiscordCall[] = [];
  const sessions = new Map<string, Session>();
  const opened: Array<{ at: number; open: number }> = [];
  const failures = new Map<string, DiscordFailure[]>();
  const buckets = new Map<string, { resetAt: number; used: number }>();
  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<WebSocket>();
  let unexpected429s = 0;
  const gateway = {
    identifies: 0,
    resumes: [] as Array<{ sessionId: string; seq: number; known: boolean }>,
    replayed: 0,
    heartbeats: 0,
    open: () => [...sessions.values()].filter((s) => s.ws?.readyState === 1).length,
    mostOpenSince: (since: number) => Math.max(0, ...opened.filter((x) => x.at >= since).map((x) => x.open)),
  };

  const dispatch = (session: Session, t: string, d: unknown) => {
    const s = ++session.seq;
    session.sent.push({ s, t, d });
    if (session.ws?.readyState === 1) session.ws.send(JSON.stringify({ op: 0, t, s, d }));
  };

  wss.on("connection", (ws, url: URL) => {
    sockets.add(ws);
    let session: Session | undefined;
    ws.on("close", (code) => {
      sockets.delete(ws);
      if (session?.ws !== ws) return;
      session.ws = undefined;
      // as Discord: a client closing with 1000 or 1001 ends its session (the bot goes offline); any other close keeps it resumable
      if (code === 1000 || code === 1001) sessions.delete(session.id);
    });
    if (url.searchParams.get("encoding") !== "json" || url.searchParams.get("v") !== "10") {
      ws.close(4002, "Decode error: this fake speaks v10 JSON only");
      return;
    }
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: heartbeatIntervalMs }, s: null, t: null }));
    ws.on("message", (raw) => {
      let p: { op?: number; d?: any };
      try {
        p = JSON.parse(String(raw));
      } catch {
        return ws.close(4002, "Error while decoding payload.");
      }
      switch (p.op) {
        case 1:
          gateway.heartbeats++;
          return ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
        case 2: {
          if (p.d?.token !== token) return ws.close(4004, "Authentication failed.");
          gateway.identifies++;
          session = { id: randomUUID().replaceAll("-", ""), seq: 0, sent: [], ws };
          sessions.set(session.id, session);
          opened.push({ at: Date.now(), open: gateway.open() });
          return dispatch(session, "READY", {
            v: 10,
            user: botUser,
            guilds: [],
            session_id: session.id,
            resume_gateway_url: fake.gatewayUrl,
            shard: p.d.shard ?? [0, 1],
            application: { id: FAKE_BOT_ID, flags: 0 },
          });
        }
        case 6: {
          const known = sessions.get(String(p.d?.session_id));
          gateway.resumes.push({ sessionId: String(p.d?.session_id), seq: Number(p.d?.seq), known: known !== undefined });
          if (p.d?.token !== token) return ws.close(4004, "Authentication failed.");
          if (!known) return ws.send(JSON.stringify({ op: 9, d: false, s: null, t: null }));
          session = known;
          session.ws = ws;
          opened.push({ at: Date.now(), open: gateway.open() });
          for (const e of session.sent.filter((e) => e.s > Number(p.d.seq))) {
            gateway.replayed++;
            ws.send(JSON.stringify({ op: 0, ...e }));
          }
          return dispatch(session, "RESUMED", {});
        }
        default:
          return ws.close(4001, "Unknown opcode.");
      }
    });
  });

  /** Answers a message creation within its channel's bucket (or 429), with Discord's rate-limit headers. */
  const bucketHeaders = (channelId: string): { headers: Record<string, string>; over: boolean; resetAfter: number } => {
    const now = Date.now();
    let b = buckets.get(channelId);
    if (!b || now >= b.resetAt) buckets.set(channelId, (b = { resetAt: now + bucket.windowMs, used: 0 }));
    b.used++;
    const resetAfter = (b.resetAt - now) / 1000;
    return {
      over: b.used > bucket.limit,
      resetAfter,
      headers: {
        "x-ratelimit-limit": String(bucket.limit),
        "x-ratelimit-remaining": String(Math.max(0, bucket.limit - b.used)),
        "x-ratelimit-reset": (b.resetAt / 1000).toFixed(3),
        "x-ratelimit-reset-after": resetAfter.toFixed(3),
        "x-ratelimit-bucket": "fake-messages-bucket",
      },
    };
  };

  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const path = (req.url ?? "").split("?")[0]!.replace(/^\/api\/v10/, "");
    const method = req.method ?? "GET";
    let body: Record<string, any> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, any>) : {};
    } catch {
      /* answered 400 below */
    }
    const call: DiscordCall = { method, path, body, at: Date.now(), status: 0 };
    calls.push(call);
    const json = (status: number, v: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(v === undefined ? undefined : JSON.stringify(v));
    };
    if (req.headers.authorization !== `Bot ${token}`) return json(401, { message: "401: Unauthorized", code: 0 });
    if (text && Object.keys(body).length === 0 && text.trim() !== "{}") return json(400, { message: "400: Bad Request", code: 50109 });
    if (method === "GET" && path === "/gateway/bot")
      return json(200, {
        url: fake.gatewayUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 86_400_000, max_concurrency: 1 },
      });
    const typing = /^\/channels\/(\d+)\/typing$/.exec(path);
    if (method === "POST" && typing) return json(204, undefined);
    const messages = /^\/channels\/(\d+)\/messages$/.exec(path);
    if (method === "POST" && messages) {
      const channelId = messages[1]!;
      const { headers, over, resetAfter } = bucketHeaders(channelId);
      const f = (failures.get(`POST /channels/${channelId}/messages`) ?? failures.get("POST /channels/{id}/messages"))?.shift();
      if (f?.status === 429 || over) {
        if (!f) unexpected429s++;
        const retryAfter = f?.status === 429 ? f.retryAfter : resetAfter;
        return json(
          429,
          { message: "You are being rate limited.", retry_after: retryAfter, global: false },
          {
            ...headers,
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset-after": retryAfter.toFixed(3),
            "retry-after": String(Math.ceil(retryAfter)),
            "x-ratelimit-scope": "user",
          },
        );
      }
      if (f && "code" in f) return json(f.status, { message: f.message, code: f.code }, headers);
      if (f) return json(f.status, { message: "Internal Server Error", code: 0 }, headers);
      const embeds: Array<{ image?: { url?: unknown } }> = Array.isArray(body.embeds) ? body.embeds : [];
      const content = body.content ?? "";
      if (typeof content !== "string" || content.length > 2_000 || (content === "" && embeds.length === 0))
        return json(400, { message: "Invalid Form Body", code: 50035, errors: { content: { _errors: [{ code: "BASE_TYPE_MAX_LENGTH" }] } } }, headers);
      if (embeds.length > 10 || embeds.some((e) => !/^https?:\/\//.test(String(e.image?.url ?? "https://"))))
        return json(400, { message: "Invalid Form Body", code: 50035, errors: { embeds: { _errors: [{ code: "BASE_TYPE_BAD_LENGTH" }] } } }, headers);
      return json(
        200,
        {
          id: snowflake(),
          channel_id: channelId,
          type: body.message_reference ? 19 : 0,
          content,
          author: botUser,
          timestamp: new Date().toISOString(),
          edited_timestamp: null,
          tts: false,
          mention_everyone: false,
          mentions: [],
          mention_roles: [],
          attachments: [],
          embeds,
          pinned: false,
        },
        headers,
      );
    }
    return json(404, { message: "404: Not Found", code: 0 });
  });
  server.on("upgrade", (req, sock, head) => {
    const url = new URL(req.url ?? "/", "ws://fake");
    if (url.pathname !== "/gateway") return sock.destroy();
    wss.handleUpgrade(req, sock, head, (ws) => wss.emit("connection", ws, url));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;

  const fake: FakeDiscord = {
    apiRoot: `http://127.0.0.1:${port}/api`,
    gatewayUrl: `ws://127.0.0.1:${port}/gateway`,
    token,
    calls,
    gateway,
    get unexpected429s() {
      return unexpected429s;
    },
    message(m) {
      const id = snowflake();
      const author = m.author ?? { id: "2200000000000000002", username: "ann" };
      const d = {
        id,
        channel_id: m.channelId,
        ...(m.guildId ? { guild_id: m.guildId } : {}),
        type: m.type ?? (m.replyToBot ? 19 : 0),
        content: m.mentionBot ? `<@${FAKE_BOT_ID}> ${m.content}` : m.content,
        author: { ...author, global_name: null, discriminator: "0", avatar: null },
        timestamp: new Date().toISOString(),
        edited_timestamp: null,
        tts: false,
        mention_everyone: false,
        mentions: m.mentionBot ? [botUser] : [],
        mention_roles: [],
        attachments: [],
        embeds: [],
        pinned: false,
        ...(m.replyToBot
          ? {
              message_reference: { type: 0, channel_id: m.channelId, message_id: "1100000000000000009" },
              referenced_message: { id: "1100000000000000009", channel_id: m.channelId, author: botUser, content: "earlier", type: 0 },
            }
          : {}),
      };
      for (const s of sessions.values()) dispatch(s, "MESSAGE_CREATE", d);
      return id;
    },
    dropConnections(code = 4000) {
      for (const ws of sockets) ws.close(code, "Unknown error.");
    },
    failNext(route, n, failure) {
      failures.set(route, [...(failures.get(route) ?? []), ...Array.from({ length: n }, () => failure)]);
    },
    posted(channelId) {
      return calls.filter((c) => c.status === 200 && c.path === `/channels/${channelId}/messages`).map((c) => String(c.body.content ?? ""));
    },
    async close() {
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
