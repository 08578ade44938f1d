/**
 * The HTTP gateway of a node: the data plane (messages in, an agent invoked,
 * OpenAI's chat completions), the agents, health and metrics. Messages go in
 * through `inbound.ts`; the other route families live beside it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { nuid } from "@nats-io/transport-node";
import type { Bus } from "../bus/index.js";
import type { Audit } from "../observability/index.js";
import { createAccess, tokenToCookie, type AccessOptions, type Admission } from "./access.js";
import { defaultMaxConnections, openFileLimit } from "./connection-limit.js";
import { createOriginPolicy, type OriginRefusal } from "./origin-policy.js";
import { answerClientError, atMostEvery, serveSafely, upgradeSafely } from "./request-boundary.js";
import { ruleFor, type RouteLookup } from "./api-routes.js";
import { dlqRoutes } from "./dlq-routes.js";
import { webhooksRoutes, type WebhookDirectory } from "./webhooks-routes.js";
import { openApiDocument } from "./openapi.js";
import { agentsRoutes, type AgentDirectory } from "./agents-routes.js";
import { skillsRoutes, type SkillDirectory } from "./skills-routes.js";
import { chatCompletions } from "./chat-completions.js";
import { modelsRoutes } from "./models.js";
import { responses } from "./responses.js";
import { HttpError, UNAVAILABLE_RETRY_AFTER_S } from "./errors.js";
import { readBody, readJson, sendJson as send } from "./http-io.js";
import { checkChatAddress, createInbound } from "./inbound.js";
import { callerId, CROSS_SESSION_SCOPE, httpChatAddress, mayAddressChat } from "./http-session.js";
import { idempotencyKeyOf, idempotentMessageId, idempotentSession, idempotentTurnId } from "./idempotency.js";
import { checkNamedAgent } from "./named-agent.js";
import { turnFailureAnswer } from "./turn-failure.js";
import { principalOf } from "./principal.js";
import { InvokeSchema, page, PageQuerySchema, parseBody, parseQuery, PostMessageSchema } from "./schemas.js";
import { webSocketChannel } from "./websocket.js";

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  bus: Bus;
  host: string;
  port: number;
  maxPayload: number;
  /** the cluster's agents (for 404s, and `/v1/agents`) */
  agents: AgentDirectory & { has(id: string): boolean };
  /** the cluster's skills (`/v1/skills`) */
  skills?: SkillDirectory;
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
  /** `CLAW_IN`'s duplicate window (how far back a retry's first reply is looked for) */
  duplicateWindowMs?: number;
  /** a platform's request for a channel account (`POST /v1/webhooks/<type>/<account>`): undefined when none takes it */
  webhook?: (type: string, account: string, req: { headers: IncomingMessage["headers"]; body: Buffer }) => Promise<{ status: number; body?: unknown; headers?: Record<string, string> } | undefined>;
  /** webhook subscriptions (`/v1/webhooks`) */
  webhooksOut?: WebhookDirectory;
  /** the cluster's channel accounts with their live state (`GET /v1/channels`) */
  channels?: () => Promise<unknown[]>;
  /** Prometheus exposition for `GET /metrics` */
  metrics?: { render(): Promise<string>; contentType: string };
  /** a request's headers must be in within this long (default 10 s), the whole request within `requestTimeoutMs` (default 30 s) */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** how long a web chat session's reply consumer outlives its last connection (`CLAW_WS_CONSUMER_IDLE_MS`) */
  wsConsumerIdleMs?: number;
  /** who may call what (see access.ts); absent: everyone may call everything */
  access?: AccessOptions;
  /** `CLAW_HTTP_HOSTS`: more names than loopback's the gateway answers for (see origin-policy.ts) */
  hosts?: string[];
  /** `CLAW_HTTP_ORIGINS`: origins whose pages may call the gateway */
  origins?: string[];
  /** `CLAW_HTTP_MAX_CONNECTIONS`: connections held at once (default: half the open-file limit, at most 10,000) */
  maxConnections?: number;
  /** connections were refused for the limit (called at most once a minute, with how many more since) */
  onConnectionsFull?: (max: number, more: number) => void;
  /** where control-plane calls and refused credentials are recorded */
  audit?: Audit;
  /** more routes (the live view): return true when the request was handled */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
  onError?: (e: unknown) => void;
}

/** A running gateway. */
export interface Gateway {
  readonly port: number;
  close(): Promise<void>;
}

/** A request's URL; a target no URL parser takes (`http://[`) is the client's error, 400. */
function urlOf(req: IncomingMessage): URL {
  try {
    return new URL(req.url ?? "/", "http://localhost");
  } catch (e) {
    throw new HttpError(400, "bad_target", "the request target is not a path or a URL", undefined, { cause: e });
  }
}

/** Starts the gateway. */
export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const inbound = createInbound(o);
  const agents = agentsRoutes(o.agents, o.maxPayload);
  const skills = o.skills ? skillsRoutes(o.skills, o.maxPayload, () => inbound.checkAvailable()) : undefined;
  const completions = chatCompletions({ inbound, maxPayload: o.maxPayload, hasAgent: (id) => o.agents.has(id) });
  const responsesApi = responses({ inbound, maxPayload: o.maxPayload, hasAgent: (id) => o.agents.has(id) });
  const models = modelsRoutes(o.agents);
  const access = o.access ? createAccess(o.access) : undefined;
  const dlq = dlqRoutes(o.bus, o.maxPayload);
  const hooks = o.webhooksOut ? webhooksRoutes(o.webhooksOut, o.maxPayload) : undefined;
  let document: unknown;
  const hosts = o.hosts ?? [];
  // DNS rebinding only matters where no credential is needed; listed hosts are checked wherever they are listed
  const policy = createOriginPolicy({ checkHost: !o.access?.required || hosts.length > 0, hosts, origins: o.origins ?? [] });
  const onError = (e: unknown) => o.onError?.(e);

  /** Refuses a request from a foreign host or page (403), unless its route is public. */
  function refusal(req: IncomingMessage, found: RouteLookup): OriginRefusal | undefined {
    const rule = found && "rule" in found ? found.rule : undefined;
    if (access ? access.isPublic(rule) : rule?.public) return undefined;
    return policy.check(req.headers);
  }

  /** Lets a request in, or answers it 401/403/429/503 (the first two recorded in the audit trail). */
  async function admit(req: IncomingMessage, path: string, found: RouteLookup, from: string): Promise<Admission | undefined> {
    if (!access) return undefined;
    const a = await access.admit(req, found, from);
    // refused credentials are recorded; refused rates are not (a flood would flood the trail)
    if (!a.ok && a.status !== 429 && a.status !== 503) o.audit?.record({ who: a.principal?.id ?? "anonymous", what: `${req.method} ${path}`, from, outcome: a.status, detail: a.message });
    return a;
  }

  async function postMessage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    inbound.checkAvailable();
    const b = parseBody(PostMessageSchema, await readJson(req, o.maxPayload));
    const { channel, account, chat, idempotency_key, ...rest } = b;
    const who = principalOf(req);
    // a chat that is someone's own session (~<owner>~…) is theirs to write into; an agent named, the invoker's
    for (const [field, id] of [["chat", chat], ["sender.id", rest.sender.id]] as const) {
      if (!mayAddressChat(id, who)) throw new HttpError(403, "forbidden", `${field}: another caller's own (writing as it needs the scope ${CROSS_SESSION_SCOPE})`, field);
    }
    checkNamedAgent(rest.metadata, who);
    const r = await inbound.accept({ channel, account, chat }, rest, idempotency_key === undefined ? undefined : idempotentMessageId(who, idempotency_key));
    send(res, 202, { message_id: r.id, duplicate: r.duplicate });
  }

  async function invoke(agent: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!o.agents.has(agent)) throw new HttpError(404, "no_agent", `no agent named ${agent}`);
    inbound.checkAvailable();
    const b = parseBody(InvokeSchema, await readJson(req, o.maxPayload));
    const principal = principalOf(req);
    const key = idempotencyKeyOf(req) ?? b.idempotency_key;
    const session = b.session ?? (key ? idempotentSession(principal, agent, key) : nuid.next());
    // the caller speaks as itself: its sender id, like its session, is within its own namespace
    const input = { text: b.text, sender: { ...b.sender, id: callerId(b.sender.id, principal, "sender.id") }, metadata: { ...b.metadata, agent } };
    const idempotencyKey = key ? idempotentTurnId(principal, agent, session, key) : undefined;
    const addr = httpChatAddress(agent, session, principal);
    // the caller's session within its namespace may outgrow a subject token: named as the caller named it
    checkChatAddress(addr, { chat: "session" });
    const { id, reply } = await inbound.converse(addr, input, { idempotencyKey, timeoutMs: b.timeout_ms });
    const body = { message_id: id, session, reply: { id: reply.id, kind: reply.kind, text: reply.text, ts: reply.ts } };
    if (reply.kind !== "error") return send(res, 200, body);
    const f = turnFailureAnswer(reply, 502);
    send(res, f.status, { ...body, error: { code: f.code, retryable: f.retryable } }, f.headers);
  }

  async function route(req: IncomingMessage, res: ServerResponse, from: string): Promise<void> {
    const url = urlOf(req);
    const path = url.pathname;
    const found = ruleFor(req.method ?? "GET", path);
    const refused = refusal(req, found);
    if (refused) return send(res, 403, { error: refused });
    // a listed origin's page reads the answers (CORS); its preflights are answered before credentials, which they never carry
    const cors = policy.corsHeaders(req.headers);
    for (const [k, v] of Object.entries(cors)) res.setHeader(k, v);
    if (req.method === "OPTIONS" && cors["access-control-allow-methods"] && found) return void res.writeHead(204).end();
    // a browser brings its credential once in the page's URL: it becomes a cookie (if it is one)
    if (access && (path === "/ui" || path.startsWith("/ui/") || path === "/chat") && (await tokenToCookie(req, res, url, (t) => access.checkToken(t, from)))) return;
    const admission = await admit(req, path, found, from);
    if (admission && !admission.ok) {
      return send(res, admission.status, { error: { code: admission.code, message: admission.message, ...(admission.scope ? { scope: admission.scope } : {}) } }, admission.headers);
    }
    // only what the route table has is served: a route cannot be added undocumented or unprotected
    if (!found) throw new HttpError(404, "not_found", `no route for ${req.method} ${path}`);
    if ("methods" in found) throw new HttpError(405, "method_not_allowed", `use ${found.methods.join(" or ")}`);
    if (admission?.rule?.audit) {
      const who = admission.principal.id;
      const what = `${req.method} ${path}`;
      // after the answer nothing of the request may be read: its socket may be gone
      res.once("finish", () => {
        try {
          o.audit?.record({ who, what, from, outcome: res.statusCode });
        } catch (e) {
          onError(e);
        }
      });
    }
    if (req.method === "GET" && path === "/healthz") return send(res, 200, { status: "ok", node: o.nodeId });
    if (req.method === "GET" && path === "/readyz") {
      const r = o.readiness();
      const reasons = o.bus.nc.isClosed() ? [...r.reasons, "nats: connection closed"] : r.reasons;
      if (reasons.length === 0) return send(res, 200, { status: "ready", node: o.nodeId });
      return send(res, 503, { status: "not ready", node: o.nodeId, reason: reasons.join("; "), reasons }, { "retry-after": String(UNAVAILABLE_RETRY_AFTER_S) });
    }
    if (path === "/openapi.json") return send(res, 200, (document ??= openApiDocument()));
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
    if (path === "/v1/chat/completions") return completions(req, res);
    if (path === "/v1/responses") return responsesApi(req, res);
    if (await models(req, res, url)) return;
    const hook = /^\/v1\/webhooks\/([^/]+)\/([^/]+)$/.exec(path);
    if (hook && o.webhook) {
      if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
      inbound.checkAvailable();
      const [type, account] = [decodeURIComponent(hook[1]!), decodeURIComponent(hook[2]!)];
      const answer = await o.webhook(type, account, { headers: req.headers, body: await readBody(req, o.maxPayload) });
      if (!answer) throw new HttpError(404, "no_channel", `no ${type} account ${account} takes webhooks here`);
      if (answer.body === undefined) {
        res.writeHead(answer.status, answer.headers ?? {});
        res.end();
        return;
      }
      return send(res, answer.status, answer.body, answer.headers);
    }
    if (path === "/v1/channels" && o.channels) {
      if (req.method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
      const q = parseQuery(PageQuerySchema, url.searchParams);
      const p = page(await o.channels(), q);
      return send(res, 200, { channels: p.items, next_cursor: p.next_cursor });
    }
    if (o.extraRoutes && (await o.extraRoutes(req, res, url))) return;
    const m = /^\/v1\/agents\/([^/]+)\/invoke$/.exec(path);
    if (m) {
      if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
      return invoke(decodeURIComponent(m[1]!), req, res);
    }
    if (await agents(req, res, url)) return;
    if (await dlq(req, res, url)) return;
    if (hooks && (await hooks(req, res, url))) return;
    if (skills && (await skills(req, res, url))) return;
    throw new HttpError(404, "not_found", `no route for ${req.method} ${path}`);
  }

  /** Answers what a route threw: its own status for an {@link HttpError}, 500 for a bug, 503 (retry) for anything else (the bus failing). */
  function answer(res: ServerResponse, e: unknown): void {
    if (res.headersSent) return void res.end();
    if (e instanceof HttpError) {
      const headers: Record<string, string> = e.retryAfterS !== undefined ? { "retry-after": String(e.retryAfterS) } : {};
      // a body refused for its size, or broken, is not read further: the connection goes with it
      if (e.status === 413 || e.code === "bad_body") headers.connection = "close";
      return send(res, e.status, { error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) } }, headers);
    }
    onError(e);
    if (e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError) {
      return send(res, 500, { error: { code: "internal_error", message: "the gateway failed on this request; it is logged" } });
    }
    send(res, 503, { error: { code: "unavailable", message: "the message could not be accepted now; retry" } }, { "retry-after": String(UNAVAILABLE_RETRY_AFTER_S) });
  }

  // slow clients (slowloris) are cut: headers within `headersTimeoutMs`, the whole request within `requestTimeoutMs`
  const server: Server = createServer({ headersTimeout: o.headersTimeoutMs ?? 10_000, requestTimeout: o.requestTimeoutMs ?? 30_000, connectionsCheckingInterval: 1_000 });
  server.maxConnections = o.maxConnections ?? defaultMaxConnections(openFileLimit());
  server.on(
    "request",
    serveSafely(async (req, res) => {
      // who asked is read once, now: once the answer is sent the socket may be gone (and req.socket null)
      const from = req.socket?.remoteAddress ?? "unknown";
      // HEAD is GET without the body: every GET route answers it (Node sends no body to a HEAD request)
      if (req.method === "HEAD") req.method = "GET";
      await route(req, res, from).catch((e: unknown) => answer(res, e));
    }, onError),
  );
  server.on("clientError", answerClientError(onError));
  const full = atMostEvery<number>(60_000, (max, more) => o.onConnectionsFull?.(max, more));
  server.on("drop", () => full(server.maxConnections));
  // web chats: `/v1/ws`
  const ws = webSocketChannel({ bus: o.bus, inbound, nodeId: o.nodeId, maxPayload: o.maxPayload, consumerIdleMs: o.wsConsumerIdleMs, onError: o.onError });
  const refuseUpgrade = (socket: Duplex, status: string, text: string, headers: Record<string, string> = {}) =>
    void socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n${text}\n`);
  server.on(
    "upgrade",
    upgradeSafely(async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const from = req.socket?.remoteAddress ?? "unknown";
      let path: string;
      try {
        path = urlOf(req).pathname;
      } catch (e) {
        return refuseUpgrade(socket, "400 Bad Request", (e as Error).message);
      }
      if (path !== "/v1/ws") return refuseUpgrade(socket, "404 Not Found", "no WebSocket endpoint here: /v1/ws");
      const found = ruleFor(req.method ?? "GET", path);
      // a page of another origin may open a WebSocket anywhere (browsers do not ask first): its Origin decides
      const refused = refusal(req, found);
      if (refused) return refuseUpgrade(socket, "403 Forbidden", refused.message);
      const a = await admit(req, path, found, from);
      if (!a || a.ok) return ws.upgrade(req, socket, head);
      const reason = ({ 401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests", 503: "Service Unavailable" } as const)[a.status];
      refuseUpgrade(socket, `${a.status} ${reason}`, a.message, a.headers);
    }, onError),
  );
  // keep idle connections longer than clients do (undici: 4 s, load balancers: 60 s): a server that
  // closes first races the client's next request on that socket, which then fails with ECONNRESET
  // (seen under load, when timers run late)
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  // a failed accept (no file descriptor left) is the server's error: logged, never the end of the process
  server.on("error", atMostEvery<Error>(10_000, (e) => onError(e)));
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr ? addr.port : o.port,
    close: async () => {
      await ws.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
