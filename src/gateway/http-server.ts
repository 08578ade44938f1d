/**
 * The HTTP gateway of a node: the data plane (messages in, an agent invoked,
 * OpenAI's chat completions), the agents, health and metrics. A request is
 * looked up once in the route table (api-routes.ts), passes the origin
 * policy and the access check, and goes to its route's handler
 * (route-handlers.ts); what is not in the table is a 404 (or a 405).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Audit } from "../observability/index.js";
import { createAccess, tokenToCookie, type Access, type AccessOptions, type Admission } from "./access.js";
import { defaultMaxConnections, openFileLimit } from "./connection-limit.js";
import { createOriginPolicy, type OriginPolicy, type OriginRefusal } from "./origin-policy.js";
import { answerClientError, atMostEvery, serveSafely, upgradeSafely } from "./request-boundary.js";
import { ruleFor, type RouteHandlers, type RouteLookup } from "./api-routes.js";
import { HttpError, UNAVAILABLE_RETRY_AFTER_S } from "./errors.js";
import { sendJson as send } from "./http-io.js";
import { createInbound } from "./inbound.js";
import { noRoute, routeHandlers, type RouteHandlersOptions } from "./route-handlers.js";
import { webSocketChannel } from "./websocket.js";

/** Options of {@link startGateway}. */
export interface GatewayOptions extends RouteHandlersOptions {
  host: string;
  port: number;
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

/** What a request passes before its handler: where it comes from (the origin policy), and who calls (the access check). */
interface Gate {
  readonly access: Access | undefined;
  readonly policy: OriginPolicy;
  /** a request from a foreign host or page (403), unless its route is public */
  refusal(req: IncomingMessage, found: RouteLookup): OriginRefusal | undefined;
  /** lets a request in, or says why not (401/403/429/503; the first two recorded in the audit trail) */
  admit(req: IncomingMessage, path: string, found: RouteLookup, from: string): Promise<Admission | undefined>;
}

function createGate(o: GatewayOptions): Gate {
  const access = o.access ? createAccess(o.access) : undefined;
  const hosts = o.hosts ?? [];
  // DNS rebinding only matters where no credential is needed; listed hosts are checked wherever they are listed
  const policy = createOriginPolicy({ checkHost: !o.access?.required || hosts.length > 0, hosts, origins: o.origins ?? [] });
  return {
    access,
    policy,
    refusal(req, found) {
      const rule = found && "rule" in found ? found.rule : undefined;
      if (access ? access.isPublic(rule) : rule?.public) return undefined;
      return policy.check(req.headers);
    },
    async admit(req, path, found, from) {
      if (!access) return undefined;
      const a = await access.admit(req, found, from);
      // refused credentials are recorded; refused rates are not (a flood would flood the trail)
      if (!a.ok && a.status !== 429 && a.status !== 503)
        o.audit?.record({ who: a.principal?.id ?? "anonymous", what: `${req.method} ${path}`, from, outcome: a.status, detail: a.message });
      return a;
    },
  };
}

/** Records a control-plane call once it is answered, with the status it got. */
function auditOnFinish(o: GatewayOptions, res: ServerResponse, record: { who: string; what: string; from: string }): void {
  // after the answer nothing of the request may be read: its socket may be gone
  res.once("finish", () => {
    try {
      o.audit?.record({ ...record, outcome: res.statusCode });
    } catch (e) {
      o.onError?.(e);
    }
  });
}

/** The request listener: one lookup in the route table, the gate, then the route's handler. */
function router(o: GatewayOptions, gate: Gate, handlers: RouteHandlers): (req: IncomingMessage, res: ServerResponse, from: string) => Promise<void> {
  return async (req, res, from) => {
    const url = urlOf(req);
    const path = url.pathname;
    const found = ruleFor(req.method ?? "GET", path);
    const refused = gate.refusal(req, found);
    if (refused) return send(res, 403, { error: refused });
    // a listed origin's page reads the answers (CORS); its preflights are answered before credentials, which they never carry
    const cors = gate.policy.corsHeaders(req.headers);
    for (const [k, v] of Object.entries(cors)) res.setHeader(k, v);
    if (req.method === "OPTIONS" && cors["access-control-allow-methods"] && found) return void res.writeHead(204).end();
    // a browser brings its credential once in the page's URL: it becomes a cookie (if it is one)
    const access = gate.access;
    if (access && (path === "/ui" || path.startsWith("/ui/") || path === "/chat") && (await tokenToCookie(req, res, url, (t) => access.checkToken(t, from))))
      return;
    const admission = await gate.admit(req, path, found, from);
    if (admission && !admission.ok) {
      return send(
        res,
        admission.status,
        {
          error: {
            code: admission.code,
            message: admission.message,
            ...(admission.scope ? { scope: admission.scope } : {}),
            // a quota's refusal reads as OpenAI's too (type, param): OpenAI clients on /v1/chat/completions show it as such
            ...(admission.tenant ? { tenant: admission.tenant, type: "insufficient_quota", param: null } : {}),
          },
        },
        admission.headers,
      );
    }
    // only what the route table has is served: a route cannot be added undocumented or unprotected
    if (!found) throw noRoute(req, url);
    if ("methods" in found) throw new HttpError(405, "method_not_allowed", `use ${found.methods.join(" or ")}`);
    if (admission?.rule?.audit) auditOnFinish(o, res, { who: admission.principal.id, what: `${req.method} ${path}`, from });
    await handlers[found.key](req, res, { url, params: found.params });
  };
}

/** Answers what a route threw: its own status for an {@link HttpError}, 500 for a bug, 503 (retry) for anything else (the bus failing). */
function answerError(res: ServerResponse, e: unknown, onError: (e: unknown) => void): void {
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
  send(
    res,
    503,
    { error: { code: "unavailable", message: "the message could not be accepted now; retry" } },
    { "retry-after": String(UNAVAILABLE_RETRY_AFTER_S) },
  );
}

const refuseUpgrade = (socket: Duplex, status: string, text: string, headers: Record<string, string> = {}) =>
  void socket.end(
    `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("")}\r\n${text}\n`,
  );

/** The upgrade listener: web chats' `/v1/ws`, through the same gate as requests. */
function upgrades(
  gate: Gate,
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void> {
  return async (req, socket, head) => {
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
    const refused = gate.refusal(req, found);
    if (refused) return refuseUpgrade(socket, "403 Forbidden", refused.message);
    const a = await gate.admit(req, path, found, from);
    if (!a || a.ok) return upgrade(req, socket, head);
    const reason = ({ 401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests", 503: "Service Unavailable" } as const)[a.status];
    refuseUpgrade(socket, `${a.status} ${reason}`, a.message, a.headers);
  };
}

/** Listens on `host:port`; rejects when the port cannot be had. */
async function listen(server: Server, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Starts the gateway. */
export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const inbound = createInbound(o);
  // one gate for requests and upgrades: the hash budget and rate limits of a client are counted once
  const gate = createGate(o);
  const route = router(o, gate, routeHandlers(o, inbound));
  const onError = (e: unknown) => o.onError?.(e);
  // slow clients (slowloris) are cut: headers within `headersTimeoutMs`, the whole request within `requestTimeoutMs`
  const server: Server = createServer({
    headersTimeout: o.headersTimeoutMs ?? 10_000,
    requestTimeout: o.requestTimeoutMs ?? 30_000,
    connectionsCheckingInterval: 1_000,
  });
  server.maxConnections = o.maxConnections ?? defaultMaxConnections(openFileLimit());
  server.on(
    "request",
    serveSafely(async (req, res) => {
      // who asked is read once, now: once the answer is sent the socket may be gone (and req.socket null)
      const from = req.socket?.remoteAddress ?? "unknown";
      // HEAD is GET without the body: every GET route answers it (Node sends no body to a HEAD request)
      if (req.method === "HEAD") req.method = "GET";
      await route(req, res, from).catch((e: unknown) => answerError(res, e, onError));
    }, onError),
  );
  server.on("clientError", answerClientError(onError));
  const full = atMostEvery<number>(60_000, (max, more) => o.onConnectionsFull?.(max, more));
  server.on("drop", () => full(server.maxConnections));
  // web chats: `/v1/ws`
  const ws = webSocketChannel({ bus: o.bus, inbound, nodeId: o.nodeId, maxPayload: o.maxPayload, consumerIdleMs: o.wsConsumerIdleMs, onError: o.onError });
  server.on(
    "upgrade",
    upgradeSafely(
      upgrades(gate, (req, socket, head) => ws.upgrade(req, socket, head)),
      onError,
    ),
  );
  // keep idle connections longer than clients do (undici: 4 s, load balancers: 60 s): a server that
  // closes first races the client's next request on that socket, which then fails with ECONNRESET
  // (seen under load, when timers run late)
  server.keepAliveTimeout = 65_000;
  await listen(server, o.port, o.host);
  // a failed accept (no file descriptor left) is the server's error: logged, never the end of the process
  server.on(
    "error",
    atMostEvery<Error>(10_000, (e) => onError(e)),
  );
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
