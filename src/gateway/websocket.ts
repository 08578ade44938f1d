/**
 * The WebSocket channel at `/v1/ws[?session=<name>|?token=<secret>][&account=<name>][&ack=client]`:
 * a web chat connects, sends `{ "text" }` frames (plain text frames are the
 * text), and gets its replies pushed — and the pieces of a streamed reply as
 * `delta` frames.
 *
 * Whose the session is (http-session.ts): `?session=<name>` is a session the
 * caller names, in its own namespace (the anonymous caller of an open
 * gateway: the name as given). Without a name the session belongs to the
 * client that made it: the node mints a secret, sends it once in the `hello`
 * frame (`token`), and the client comes back with `?token=<secret>` — the
 * /chat page keeps it in the browser. The session's chat is derived from the
 * secret, so knowing the chat (the live view shows it) does not reach it.
 *
 * Replies are `claw.out.ws.<account>.<chat>` in `CLAW_OUT`, read by a
 * durable consumer of that session (`ws-<account>-<chat>`, removed by the
 * server `CLAW_WS_CONSUMER_IDLE_MS` after its last connection went away):
 * what was answered while the client was away waits in the stream, and comes
 * when it connects again. A reply is acked once written to the socket, or —
 * with `ack=client`, as the /chat page does — once the client acks its id
 * (`{ "type": "ack", "id" }`): a reply the client did not confirm comes again
 * on its next connection (ids let it drop repeats). A session has one
 * connection: a newer one, on any node, closes the older (4001).
 *
 * Frames to the client: `hello {session, account, node, token?}`, `accepted
 * {id, duplicate}`, `reply {id, replyTo, text, kind, media, ts}`, `delta
 * {replyTo, seq, text}`, `error {code, message, id?}`.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { JsMsg } from "@nats-io/jetstream";
import { randomBytes } from "node:crypto";
import { nuid, type Subscription } from "@nats-io/transport-node";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import {
  decode,
  DEFAULT_WS_CONSUMER_IDLE_MS,
  decodeReplyPiece,
  defaultBackoff,
  defaultLanePolicy,
  deltaSubject,
  encodeToken,
  parseWsTakeoverSubject,
  startConsumerLane,
  STREAMS,
  webSessionConsumerSpec,
  wildcards,
  wsTakeoverSubject,
  type Bus,
  type ChatAddress,
  type ConsumerLane,
  type Envelope,
  type LanePolicy,
} from "../bus/index.js";
import type { Principal } from "../auth/index.js";
import { localAgentId } from "../actors/index.js";
import { HttpError } from "./errors.js";
import { callerId, tokenChat } from "./http-session.js";
import type { Inbound } from "./inbound.js";
import { checkNamedAgent } from "./named-agent.js";
import { principalOf } from "./principal.js";
import { agentIdFor } from "./tenant-scope.js";

/** The channel name of WebSocket chats. */
export const WS_CHANNEL = "ws";
const DEFAULT_ACCOUNT = "web";
const PING_MS = 30_000;

/** Options of {@link webSocketChannel}. */
export interface WebSocketChannelOptions {
  bus: Bus;
  inbound: Inbound;
  nodeId: string;
  maxPayload: number;
  /** how long a session's reply consumer outlives its last connection (default 30 s) */
  consumerIdleMs?: number;
  onError?: (e: unknown) => void;
}

/** A session's secret: enough entropy that the chat derived from it cannot be guessed. */
const TOKEN = /^[A-Za-z0-9_-]{22,128}$/;

/** The session a connection asks for: its chat, and what the `hello` frame tells the client. */
function sessionOf(url: URL, p: Principal): { chat: string; session: string; token?: string } {
  const session = url.searchParams.get("session");
  const token = url.searchParams.get("token");
  if (session !== null && token !== null) throw new HttpError(400, "invalid_query", "give session or token, not both", "token");
  if (session) {
    if (session.length > 128) throw new HttpError(400, "invalid_query", "session: at most 128 characters", "session");
    return { chat: callerId(session, p), session };
  }
  if (token !== null && !TOKEN.test(token))
    throw new HttpError(400, "invalid_query", "token: the secret a hello frame gave (22–128 of A-Z a-z 0-9 _ -)", "token");
  const secret = token ?? randomBytes(24).toString("base64url");
  const chat = tokenChat(secret);
  return { chat, session: chat, ...(token === null ? { token: secret } : {}) };
}

interface Connection {
  id: string;
  /** when it opened (ms): a takeover closes only connections older than the one that announced it */
  at: number;
  ws: WebSocket;
  close(code: number, reason: string): void;
}

/** What a new connection announces on its session's takeover subject: its id and when it opened. */
const takeoverNotice = (c: Connection) => JSON.stringify({ id: c.id, at: c.at });

/**
 * Whether `c` is older than the connection a takeover notice announces. A notice comes back through NATS later
 * than the connection registered here, so an even newer connection may be here already: that one stays. A bare id
 * (a node before this one) closes every other connection, as it did.
 */
function olderThanNotice(c: Connection, notice: string): boolean {
  let n: { id?: unknown; at?: unknown } | undefined;
  try {
    n = notice.startsWith("{") ? (JSON.parse(notice) as typeof n) : undefined;
  } catch {
    n = undefined;
  }
  if (typeof n?.id !== "string" || typeof n.at !== "number") return c.id !== notice;
  if (c.id === n.id) return false;
  return c.at < n.at || (c.at === n.at && c.id < n.id);
}

/** What every connection of the channel shares. */
interface Channel {
  o: WebSocketChannelOptions;
  /** the connections of each session (`<account>.<chat>`): the newest one gets its replies */
  sessions: Map<string, Set<Connection>>;
  /** sockets that answered the last ping */
  alive: WeakSet<WebSocket>;
}

/** What a connection asked for. */
interface Asked {
  clientAcks: boolean;
  principal: Principal;
  session: string;
  token?: string;
}

/**
 * A session's replies' lane: one at a time, in the order of the stream, each
 * written to the socket as it comes. Pulls are long (nats.js's 30 s, heartbeat
 * 15 s): a node holds many idle sessions. The consumer is the session's, made
 * by whichever connection comes; when it goes (removed after its idle time
 * while NATS was away) the lane ends and the client is told to connect again,
 * which makes it anew.
 */
const SESSION_POLICY: LanePolicy = {
  ...defaultLanePolicy(),
  pullBatch: 32,
  pullExpiresMs: 30_000,
  pullHeartbeatMs: 15_000,
  ordering: { kind: "serial" },
  whenPullFails: "end",
};

const keyOf = (a: Pick<ChatAddress, "account" | "chat">) => `${encodeToken(a.account)}.${encodeToken(a.chat)}`;

/** Takes one frame from the client: an ack of a reply, or a message. */
async function take(
  ch: Channel,
  conn: { addr: ChatAddress; asked: Asked; unacked: Map<string, JsMsg>; frame: (v: unknown) => void },
  data: RawData,
  isBinary: boolean,
): Promise<void> {
  const { addr, frame } = conn;
  if (isBinary) return frame({ type: "error", code: "invalid", message: 'send text frames: JSON { "text" } or the text itself' });
  const text = Buffer.isBuffer(data) ? data.toString("utf8") : Buffer.concat(data as Buffer[]).toString("utf8");
  let v: { type?: unknown; id?: unknown; text?: unknown; metadata?: unknown } | undefined;
  if (text.trimStart().startsWith("{")) {
    try {
      v = JSON.parse(text) as typeof v;
    } catch {
      v = undefined;
    }
  }
  if (v?.type === "ack") {
    const m = typeof v.id === "string" ? conn.unacked.get(v.id) : undefined;
    if (m) {
      conn.unacked.delete(v.id as string);
      m.ack();
    }
    return;
  }
  const id = typeof v?.id === "string" ? v.id : undefined;
  const input: { text: unknown; metadata?: unknown; sender: { id: string } } =
    v && "text" in v ? { text: v.text, metadata: v.metadata, sender: { id: addr.chat } } : { text, sender: { id: addr.chat } };
  try {
    const who = conn.asked.principal;
    checkNamedAgent(input.metadata, who);
    // a tenant names its agents as it named them: they are its own (`<tenant>/<agent>`)
    const meta = input.metadata as { agent?: unknown } | undefined;
    if (who.tenant !== undefined && typeof meta?.agent === "string") input.metadata = { ...meta, agent: agentIdFor(who, meta.agent) };
    const r = await ch.o.inbound.accept(addr, input, id);
    frame({ type: "accepted", id: r.id, duplicate: r.duplicate });
  } catch (e) {
    if (e instanceof HttpError)
      return frame({ type: "error", code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}), ...(id ? { id } : {}) });
    ch.o.onError?.(e);
    frame({ type: "error", code: "unavailable", message: "the message could not be accepted now; send it again", ...(id ? { id } : {}) });
  }
}

/** Serves one connection: its frames in, its session's replies and reply pieces out, until it closes. */
async function serve(ch: Channel, ws: WebSocket, addr: ChatAddress, asked: Asked): Promise<void> {
  const { o } = ch;
  const key = keyOf(addr);
  const conn: Connection = { id: nuid.next(), at: Date.now(), ws, close: (code, reason) => ws.close(code, reason) };
  let closed = false;
  let lane: ConsumerLane | undefined;
  let deltas: Subscription | undefined;
  const unacked = new Map<string, JsMsg>();
  const frame = (v: unknown, cb?: (err?: Error) => void) => {
    if (ws.readyState !== ws.OPEN) return cb?.(new Error("closed"));
    ws.send(JSON.stringify(v), cb);
  };
  const gone = new Promise<void>((r) => ws.once("close", r));
  ch.alive.add(ws);
  ws.on("pong", () => ch.alive.add(ws));
  ws.on("close", () => {
    closed = true;
    const set = ch.sessions.get(key);
    set?.delete(conn);
    if (set?.size === 0) ch.sessions.delete(key);
    deltas?.unsubscribe();
    void lane?.stopPulling();
    // not confirmed by the client: at once to its next connection, not after the ack wait
    for (const m of unacked.values()) m.nak();
    unacked.clear();
  });
  ws.on("message", (data: RawData, isBinary: boolean) => void take(ch, { addr, asked, unacked, frame }, data, isBinary));

  // the newest connection of a session is the one that gets its replies
  let set = ch.sessions.get(key);
  if (!set) ch.sessions.set(key, (set = new Set()));
  set.add(conn);
  o.bus.nc.publish(wsTakeoverSubject(addr), takeoverNotice(conn));
  // a tenant's account is shown by the name it gave
  const account = asked.principal.tenant === undefined ? addr.account : localAgentId(addr.account);
  frame({ type: "hello", session: asked.session, account, node: o.nodeId, ...(asked.token ? { token: asked.token } : {}) });

  deltas = o.bus.nc.subscribe(deltaSubject(addr), {
    callback: (_e, m) => {
      const piece = decodeReplyPiece(m.data);
      if (piece) frame({ type: "delta", ...piece });
    },
  });
  const push = async (m: JsMsg): Promise<void> => {
    let reply: Envelope;
    try {
      reply = decode<Envelope>(m.data);
    } catch {
      return m.term(); // not an envelope: nothing a client could read
    }
    if (asked.clientAcks) unacked.set(reply.id, m);
    frame({ type: "reply", id: reply.id, replyTo: reply.replyTo, kind: reply.kind, text: reply.text, media: reply.media, ts: reply.ts }, (err) => {
      if (asked.clientAcks) return;
      if (err) m.nak();
      else m.ack();
    });
  };
  const spec = webSessionConsumerSpec(addr, o.consumerIdleMs ?? DEFAULT_WS_CONSUMER_IDLE_MS);
  lane = await startConsumerLane({ bus: o.bus, stream: STREAMS.out, consumer: spec, policy: SESSION_POLICY, backoff: defaultBackoff(), handle: push });
  if (closed) return void lane.stopPulling();
  await Promise.race([lane.ended, gone]);
  if (!closed) ws.close(1011, "the session's replies could not be read; connect again");
}

/** The WebSocket side of the gateway: hand it the server's `upgrade` requests for `/v1/ws`. */
export function webSocketChannel(o: WebSocketChannelOptions): { upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void; close(): Promise<void> } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: o.maxPayload });
  const ch: Channel = { o, sessions: new Map(), alive: new WeakSet() };

  // a newer connection of a session, on any node, closes the older ones
  const takeovers: Subscription = o.bus.nc.subscribe(wildcards.wsTakeovers, {
    callback: (_e, m) => {
      const session = parseWsTakeoverSubject(m.subject);
      if (!session) return;
      const key = keyOf(session);
      const notice = m.string();
      for (const c of ch.sessions.get(key) ?? []) if (olderThanNotice(c, notice)) c.close(4001, "replaced by a newer connection of this session");
    },
  });

  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (!ch.alive.has(ws)) {
        ws.terminate();
        continue;
      }
      ch.alive.delete(ws);
      ws.ping();
    }
  }, PING_MS);
  pinger.unref();

  return {
    upgrade(req, socket, head) {
      const url = new URL(req.url ?? "/", "http://localhost");
      const account = url.searchParams.get("account") || DEFAULT_ACCOUNT;
      const principal = principalOf(req);
      let asked: ReturnType<typeof sessionOf>;
      try {
        if (account.length > 128) throw new HttpError(400, "invalid_query", "account: at most 128 characters", "account");
        if (principal.tenant !== undefined && account.includes("/"))
          throw new HttpError(400, "invalid_query", "account: a tenant's accounts are named within it (no /)", "account");
        asked = sessionOf(url, principal);
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n\r\n${e.message}\n`);
        return;
      }
      try {
        o.inbound.checkAvailable();
      } catch (e) {
        socket.end(`HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\ncontent-type: text/plain\r\n\r\n${(e as Error).message}\n`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        // a frame the client breaks (bad bits, past maxPayload) is an 'error' here: ws closes the connection
        // (1002, 1009) itself, and without a listener the process would end
        ws.on("error", () => undefined);
        // a tenant's web chats are on its own accounts (`<tenant>/<account>`): only its agents answer them (agent-routing.ts)
        const addr = { channel: WS_CHANNEL, account: agentIdFor(principal, account), chat: asked.chat };
        void serve(ch, ws, addr, { clientAcks: url.searchParams.get("ack") === "client", principal, session: asked.session, token: asked.token }).catch(
          (e: unknown) => {
            o.onError?.(e);
            ws.close(1011, "the session's replies could not be read; connect again");
          },
        );
      });
    },
    async close() {
      clearInterval(pinger);
      takeovers.unsubscribe();
      for (const ws of wss.clients) ws.close(1001, "the node is stopping");
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}
