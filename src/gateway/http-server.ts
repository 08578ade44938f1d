/**
 * The HTTP gateway of a node: data-plane endpoints that publish to
 * `claw.in.>` and wait on `claw.out.>`, and health endpoints.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { nuid } from "@nats-io/transport-node";
import {
  completeInbound,
  CONTENT_TYPE_MSGPACK,
  decode,
  encode,
  EnvelopeError,
  H,
  inboundSubject,
  outboundSubject,
  publishDurable,
  type Bus,
  type ChatAddress,
  type Envelope,
} from "../bus/index.js";
import { HttpError } from "./errors.js";
import { fromEnvelopeError, InvokeSchema, parseBody, PostMessageSchema } from "./schemas.js";

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  bus: Bus;
  host: string;
  port: number;
  maxPayload: number;
  /** agent ids served (for 404s on invoke) */
  agentIds: readonly string[];
  nodeId: string;
  /** true when the node serves traffic (readiness) */
  ready: () => boolean;
  /** Prometheus exposition for `GET /metrics` */
  metrics?: { render(): Promise<string>; contentType: string };
  /** more routes (the live view): return true when the request was handled */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
  onError?: (e: unknown) => void;
}

/** A running gateway. */
export interface Gateway {
  readonly port: number;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

function send(res: ServerResponse, status: number, body: Json): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data) });
  res.end(data);
}

async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) throw new HttpError(413, "too_large", `body exceeds the maximum of ${max} bytes`);
    chunks.push(c);
  }
  if (size === 0) throw new HttpError(400, "bad_json", "empty body: send a JSON object");
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (e) {
    throw new HttpError(400, "bad_json", `invalid JSON: ${(e as Error).message}`);
  }
}

/** Starts the gateway. */
export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  /** Validates like ingress will, then publishes durably; returns the message id. */
  async function accept(addr: ChatAddress, input: Json, idempotencyKey: string | undefined): Promise<{ id: string; duplicate: boolean }> {
    const id = idempotencyKey ?? nuid.next();
    const body = { ...input, id };
    // same validation as ingress, so a bad message gets its 400 here instead of a dead letter later
    try {
      completeInbound(body, { id, ts: Date.now(), ...addr });
    } catch (e) {
      if (e instanceof EnvelopeError) throw fromEnvelopeError(e);
      throw e;
    }
    const data = encode(body);
    if (data.length > o.maxPayload) throw new HttpError(413, "too_large", `message exceeds the maximum of ${o.maxPayload} bytes`);
    const ack = await publishDurable(o.bus.js, {
      subject: inboundSubject(addr),
      data,
      msgId: id,
      headers: { [H.contentType]: CONTENT_TYPE_MSGPACK, [H.node]: o.nodeId },
    });
    return { id, duplicate: ack.duplicate };
  }

  async function postMessage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const b = parseBody(PostMessageSchema, await readJson(req, o.maxPayload));
    const { channel, account, chat, idempotency_key, ...rest } = b;
    const r = await accept({ channel, account, chat }, rest, idempotency_key);
    send(res, 202, { message_id: r.id, duplicate: r.duplicate });
  }

  async function invoke(agent: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!o.agentIds.includes(agent)) throw new HttpError(404, "no_agent", `no agent named ${agent}`);
    const b = parseBody(InvokeSchema, await readJson(req, o.maxPayload));
    const session = b.session ?? nuid.next();
    const addr = { channel: "http", account: agent, chat: session };
    const id = b.idempotency_key ?? nuid.next();
    // subscribe before publishing so the reply cannot slip past
    const sub = o.bus.nc.subscribe(outboundSubject(addr));
    const timer = setTimeout(() => sub.unsubscribe(), b.timeout_ms);
    try {
      const accepted = await accept(addr, { text: b.text, sender: b.sender, metadata: { ...b.metadata, agent } }, id);
      for await (const m of sub) {
        const reply = decode<Envelope>(m.data);
        if (reply.replyTo !== accepted.id) continue;
        const body = { message_id: accepted.id, session, reply: { id: reply.id, kind: reply.kind, text: reply.text, ts: reply.ts } };
        return send(res, reply.kind === "error" ? 502 : 200, body);
      }
      throw new HttpError(504, "timeout", `no reply within ${b.timeout_ms} ms (message ${accepted.id} was accepted and will still be processed)`);
    } finally {
      clearTimeout(timer);
      sub.unsubscribe();
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    if (req.method === "GET" && path === "/healthz") return send(res, 200, { status: "ok", node: o.nodeId });
    if (req.method === "GET" && path === "/readyz") {
      const ok = o.ready() && !o.bus.nc.isClosed();
      return send(res, ok ? 200 : 503, { status: ok ? "ready" : "not ready", node: o.nodeId });
    }
    if (req.method === "GET" && path === "/metrics" && o.metrics) {
      const body = await o.metrics.render();
      res.writeHead(200, { "content-type": o.metrics.contentType });
      res.end(body);
      return;
    }
    if (path === "/v1/messages") {
      if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
      return postMessage(req, res);
    }
    if (o.extraRoutes && (await o.extraRoutes(req, res, url))) return;
    const m = /^\/v1\/agents\/([^/]+)\/invoke$/.exec(path);
    if (m) {
      if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
      return invoke(decodeURIComponent(m[1]!), req, res);
    }
    throw new HttpError(404, "not_found", `no route for ${req.method} ${path}`);
  }

  const server: Server = createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
      if (res.headersSent) return res.end();
      if (e instanceof HttpError) {
        return send(res, e.status, { error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) } });
      }
      o.onError?.(e);
      send(res, 503, { error: { code: "unavailable", message: "the message could not be accepted now; retry" } });
    });
  });
  // keep idle connections longer than clients do (undici: 4 s, load balancers: 60 s): a server that
  // closes first races the client's next request on that socket, which then fails with ECONNRESET
  // (seen under load, when timers run late)
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr ? addr.port : o.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
