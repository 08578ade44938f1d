/**
 * Who may call what: every route of the gateway with the scope it needs, as
 * data (`ROUTES`, which the auth test walks so that no route is added
 * unprotected), and the check each request passes before it is routed.
 *
 * - On loopback (the default bind) the gateway is open unless `CLAW_AUTH=required`;
 *   listening on any other address, everything but `/healthz`, `/readyz`,
 *   `/openapi.json` and the platforms' webhooks (they carry their own
 *   signatures) needs a credential: no credential → 401, a credential
 *   without the route's scope → 403 naming it.
 * - Credentials: `Authorization: Bearer <API key or JWT>`. A browser (the
 *   live view, the web chat and its WebSocket) may bring it once as
 *   `?access_token=` on a page: the node answers with an HttpOnly,
 *   SameSite=Strict cookie and the same page without the token in its URL.
 *   The cookie is taken for GET requests only (nothing it could be tricked
 *   into sending changes anything).
 * - Rate limits (`CLAW_CONFIG` `rateLimits`, buckets shared by every node in
 *   KV): per client address before credentials are checked, then per
 *   credential and per credential on a scope's routes; 429 with
 *   `Retry-After`. Public routes are not limited (health; webhooks, whose
 *   platforms send again what is refused).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { bucketKey, covers, type ApiKeyVerifier, type JwtVerifier, type Principal, type RateLimiter, type RateLimits } from "../auth/index.js";

/** A route and who may call it. */
export interface RouteRule {
  method: "GET" | "POST";
  /** the path, with `{name}` for one segment and `{rest*}` for the rest */
  path: string;
  /** public: no credential (health, and webhooks the platforms sign themselves) */
  public?: boolean;
  /** the scopes that let a caller in (any one of them), from the path's parameters */
  scopes?: (p: Record<string, string>) => string[];
  /** a narrower grant (`agents:invoke:<id>`) lets the request in too: the handler checks it once it knows the target */
  narrowedInHandler?: boolean;
  /** a control-plane call: recorded in the audit stream */
  audit?: boolean;
  summary: string;
}

const one = (s: string) => () => [s];

/** Every route of the gateway. */
export const ROUTES: readonly RouteRule[] = [
  { method: "GET", path: "/healthz", public: true, summary: "liveness" },
  { method: "GET", path: "/readyz", public: true, summary: "readiness" },
  { method: "GET", path: "/metrics", scopes: one("metrics:read"), summary: "Prometheus metrics" },
  { method: "POST", path: "/v1/messages", scopes: one("messages:write"), summary: "send a message into a chat" },
  { method: "POST", path: "/v1/chat/completions", scopes: one("agents:invoke"), narrowedInHandler: true, summary: "OpenAI chat completions (the model names the agent; agents:invoke:<agent> is enough for that agent)" },
  { method: "POST", path: "/v1/agents/{id}/invoke", scopes: (p) => [`agents:invoke:${p.id}`], summary: "invoke an agent and wait for its reply" },
  { method: "GET", path: "/v1/agents", scopes: () => ["agents:admin", "agents:invoke"], audit: true, summary: "list the agents" },
  { method: "POST", path: "/v1/agents", scopes: one("agents:admin"), audit: true, summary: "register or change an agent" },
  { method: "GET", path: "/v1/agents/{id}", scopes: (p) => ["agents:admin", `agents:invoke:${p.id}`], audit: true, summary: "read an agent" },
  { method: "GET", path: "/v1/skills", scopes: () => ["skills:admin", "skills:invoke"], audit: true, summary: "list the skills" },
  { method: "POST", path: "/v1/skills", scopes: one("skills:admin"), audit: true, summary: "register a skill" },
  { method: "GET", path: "/v1/skills/{id}", scopes: (p) => ["skills:admin", `skills:invoke:${p.id}`], audit: true, summary: "read a skill" },
  { method: "POST", path: "/v1/skills/{id}/invoke", scopes: (p) => [`skills:invoke:${p.id}`], summary: "invoke a skill" },
  { method: "GET", path: "/v1/channels", scopes: one("channels:admin"), audit: true, summary: "channel accounts and their state" },
  { method: "POST", path: "/v1/webhooks/{type}/{account}", public: true, summary: "a platform's events for a channel account (checked by the platform's own signature or secret)" },
  { method: "GET", path: "/v1/ws", scopes: one("messages:write"), summary: "a web chat's WebSocket" },
  { method: "GET", path: "/ui", scopes: one("ui:read"), summary: "the live view" },
  { method: "GET", path: "/ui/{rest*}", scopes: one("ui:read"), summary: "the live view's assets, API and event stream" },
  { method: "GET", path: "/chat", scopes: one("ui:read"), summary: "the web chat page" },
];

function compile(r: RouteRule): (method: string, path: string) => Record<string, string> | undefined {
  const names: string[] = [];
  const re = new RegExp(
    `^${r.path
      .split("/")
      .map((seg) => {
        const m = /^\{(\w+)(\*)?\}$/.exec(seg);
        if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        names.push(m[1]!);
        return m[2] ? "(.+)" : "([^/]+)";
      })
      .join("/")}$`,
  );
  return (method, path) => {
    if (method !== r.method && !(r.method === "GET" && method === "HEAD")) return undefined;
    const m = re.exec(path);
    if (!m) return undefined;
    return Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
  };
}

const MATCHERS = ROUTES.map((r) => ({ rule: r, match: compile(r) }));

/** The rule of a request and its path's parameters; undefined for no route (it needs a credential all the same). */
export function ruleFor(method: string, path: string): { rule: RouteRule; params: Record<string, string> } | undefined {
  for (const { rule, match } of MATCHERS) {
    const params = match(method, path);
    if (params) return { rule, params };
  }
  return undefined;
}

/** How the gateway admits requests. */
export interface AccessOptions {
  /** credentials are required (off loopback, or `CLAW_AUTH=required`) */
  required: boolean;
  keys: ApiKeyVerifier;
  jwt?: JwtVerifier;
  /** `/metrics` without a credential (`CLAW_METRICS_PUBLIC`) */
  metricsPublic: boolean;
  /** rate limits, and the shared buckets they are counted in */
  limits?: { limits: RateLimits; limiter: RateLimiter };
}

/** A request let in, or refused with its status. */
export type Admission =
  | { ok: true; principal: Principal; rule?: RouteRule }
  | { ok: false; status: 401 | 403 | 429; code: string; message: string; principal?: Principal; rule?: RouteRule; scope?: string; headers: Record<string, string> };

/** When nothing is required: everyone may do everything. */
const OPEN: Principal = { id: "anonymous", scopes: ["*"] };

export const TOKEN_COOKIE = "claw_token";

/** The bearer token of a request: its Authorization header, or for a GET its cookie. */
export function credentialOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : "";
  }
  if (req.method === "GET" || req.method === "HEAD") {
    for (const part of (req.headers.cookie ?? "").split(";")) {
      const [k, ...v] = part.trim().split("=");
      if (k === TOKEN_COOKIE) return decodeURIComponent(v.join("="));
    }
  }
  return undefined;
}

const principals = new WeakMap<IncomingMessage, Principal>();

/** Who made a request that was let in. */
export function principalOf(req: IncomingMessage): Principal {
  return principals.get(req) ?? OPEN;
}

/** True when the caller of `req` has `scope` (for checks that need the body, as chat completions' model). */
export function allowed(req: IncomingMessage, scope: string): boolean {
  return covers(principalOf(req).scopes, scope);
}

const CHALLENGE = 'Bearer realm="claw"';

/** Creates the check every request passes. */
export function createAccess(o: AccessOptions): { admit(req: IncomingMessage, path: string): Promise<Admission> } {
  async function authenticate(token: string): Promise<Principal | { error: string }> {
    if (token.startsWith("claw_")) return o.keys.verify(token);
    if (o.jwt && token.split(".").length === 3) return o.jwt(token);
    return { error: o.jwt ? "neither a Claw API key nor a JWT" : "not a Claw API key (no JWT issuer is configured)" };
  }
  /** a 429 when `who`'s bucket of `kind` is empty */
  async function limited(kind: string, who: string, rate: RateLimits["key"], rule: RouteRule | undefined, principal?: Principal): Promise<Admission | undefined> {
    if (!rate || !o.limits) return undefined;
    const taken = await o.limits.limiter.take(bucketKey(kind, who), rate);
    if (taken.ok) return undefined;
    const per = kind === "addr" ? "this address" : kind === "key" ? "this credential" : `this credential on ${kind.slice("scope.".length).replace("_", ":")}`;
    return { ok: false, status: 429, code: "rate_limited", message: `too many requests from ${per} (${rate.perSecond}/s, bursts of ${rate.burst}); retry in ${taken.retryAfterS} s`, rule, principal, headers: { "retry-after": String(taken.retryAfterS) } };
  }
  /** the credential's own limits: on every route, and on the routes of each limited scope */
  async function credentialLimits(who: Principal, rule: RouteRule | undefined, params: Record<string, string>): Promise<Admission | undefined> {
    if (!o.limits || who === OPEN) return undefined;
    const l = o.limits.limits;
    const byKey = await limited("key", who.id, l.key, rule, who);
    if (byKey) return byKey;
    for (const needed of rule?.scopes?.(params) ?? []) {
      const base = needed.split(":").slice(0, 2).join(":");
      const r = await limited(`scope.${base.replace(":", "_")}`, who.id, l.scopes[base], rule, who);
      if (r) return r;
    }
    return undefined;
  }
  return {
    async admit(req, path) {
      const found = ruleFor(req.method ?? "GET", path);
      const rule = found?.rule;
      if (rule?.public || (rule?.path === "/metrics" && o.metricsPublic)) return { ok: true, principal: OPEN, rule };
      const byAddress = await limited("addr", req.socket.remoteAddress ?? "unknown", o.limits?.limits.address, rule);
      if (byAddress) return byAddress;
      if (!o.required) {
        principals.set(req, OPEN);
        return { ok: true, principal: OPEN, rule };
      }
      const token = credentialOf(req);
      if (token === undefined) return { ok: false, status: 401, code: "unauthenticated", message: "this needs a credential: Authorization: Bearer <API key or JWT> (create a key with `claw keys create`)", rule, headers: { "www-authenticate": CHALLENGE } };
      const who = token === "" ? { error: "the Authorization header is not `Bearer <token>`" } : await authenticate(token);
      if ("error" in who) return { ok: false, status: 401, code: "invalid_credential", message: who.error, rule, headers: { "www-authenticate": `${CHALLENGE}, error="invalid_token"` } };
      principals.set(req, who);
      // no such route: a known caller learns so (404/405 from the router)
      const needed = rule?.scopes?.(found!.params) ?? [];
      const narrowed = (s: string) => rule?.narrowedInHandler === true && who.scopes.some((g) => g.startsWith(`${s}:`));
      if (needed.length > 0 && !needed.some((s) => covers(who.scopes, s) || narrowed(s))) {
        const scope = needed.join(" or ");
        return { ok: false, status: 403, code: "forbidden", message: `this needs the scope ${scope}`, principal: who, rule, scope, headers: { "www-authenticate": `${CHALLENGE}, error="insufficient_scope", scope="${needed[0]}"` } };
      }
      return (await credentialLimits(who, rule, found?.params ?? {})) ?? { ok: true, principal: who, rule };
    },
  };
}

/** A page opened with `?access_token=`: the token becomes a cookie and the page is loaded again without it. */
export function tokenToCookie(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
  const token = url.searchParams.get("access_token");
  if (!token || req.method !== "GET") return false;
  url.searchParams.delete("access_token");
  res.writeHead(303, {
    location: `${url.pathname}${url.search}`,
    "set-cookie": `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
    "cache-control": "no-store",
  });
  res.end();
  return true;
}
