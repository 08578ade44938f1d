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
  isStorageFull,
  isTransientNatsError,
  outboundSubject,
  publishDurable,
  PublishError,
  type Bus,
  type ChatAddress,
  type Envelope,
} from "../bus/index.js";
import { HttpError, unavailableError, UNAVAILABLE_RETRY_AFTER_S } from "./errors.js";
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
  /** whether the node serves traffic now, and why not (`GET /readyz`) */
  readiness: () => { ready: boolean; reasons: string[] };
  /**
   * The bus' problem when it cannot take messages now: data-plane requests
   * are then answered 503 at once, with `Retry-After`, instead of hanging.
   */
  busProblem?: () => { code: string; reason: string } | undefined;
  /** a publish that failed: lets the node's bus health learn of a full store before its next probe */
  observePublishError?: (e: unknown) => void;
  /** a request refused because the bus could not take it (for metrics) */
  onRefused?: (reason: string) => void;
  /** how long an accepting publish may retry before the request is answered 503 (default 5 s) */
  publishTimeoutMs?: number;
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

function send(res: ServerResponse, status: number, body: Json, headers: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...headers });
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
    try {
      const ack = await publishDurable(
        o.bus.js,
        { subject: inboundSubject(addr), data, msgId: id, headers: { [H.contentType]: CONTENT_TYPE_MSGPACK, [H.node]: o.nodeId } },
        { totalMs: o.publishTimeoutMs ?? 5_000 },
      );
      return { id, duplicate: ack.duplicate };
    } catch (e) {
      if (!(e instanceof PublishError)) throw e;
      o.observePublishError?.(e);
      // the bus could not take it now (a full store, NATS away): the client may retry with the same idempotency key
      if (isStorageFull(e)) throw refused({ code: "storage_full", reason: "jetstream: storage full" }, e);
      if (isTransientNatsError(e.cause)) throw refused({ code: "unavailable", reason: `nats: ${(e.cause as Error).message}` }, e);
      throw e;
    }
  }

  function refused(problem: { code: string; reason: string }, cause?: unknown): HttpError {
    o.onRefused?.(problem.code);
    return unavailableError(problem, { cause });
  }

  /** Fails fast while the bus cannot take messages, instead of a request that hangs until its client gives up. */
  function checkAvailable(): void {
    const problem = o.busProblem?.();
    if (problem) throw refused(problem);
  }

  async function postMessage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    checkAvailable();
    const b = parseBody(PostMessageSchema, await readJson(req, o.maxPayload));
    const { channel, account, chat, idempotency_key, ...rest } = b;
    const r = await accept({ channel, account, chat }, rest, idempotency_key);
    send(res, 202, { message_id: r.id, duplicate: r.duplicate });
  }

  async function invoke(agent: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!o.agentIds.includes(agent)) throw new HttpError(404, "no_agent", `no agent named ${agent}`);
    checkAvailable();
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
      const r = o.readiness();
      const reasons = o.bus.nc.isClosed() ? [...r.reasons, "nats: connection closed"] : r.reasons;
      if (reasons.length === 0) return send(res, 200, { status: "ready", node: o.nodeId });
      return send(res, 503, { status: "not ready", node: o.nodeId, reason: reasons.join("; "), reasons }, { "retry-after": String(UNAVAILABLE_RETRY_AFTER_S) });
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
        const headers: Record<string, string> = e.retryAfterS !== undefined ? { "retry-after": String(e.retryAfterS) } : {};
        return send(res, e.status, { error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) } }, headers);
      }
      o.onError?.(e);
      send(res, 503, { error: { code: "unavailable", message: "the message could not be accepted now; retry" } }, { "retry-after": String(UNAVAILABLE_RETRY_AFTER_S) });
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
