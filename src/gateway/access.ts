/**
 * Who may call what: the check each request passes before it is routed,
 * against the scopes the route table (api-routes.ts) gives each route.
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
import type { RouteLookup, RouteRule } from "./api-routes.js";
import { OPEN, principals } from "./principal.js";

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

const CHALLENGE = 'Bearer realm="claw"';

/** Creates the check every request passes. */
export function createAccess(o: AccessOptions): { admit(req: IncomingMessage, found: RouteLookup): Promise<Admission> } {
  async function authenticate(token: string): Promise<Principal | { error: string }> {
    if (token.startsWith("claw_")) return o.keys.verify(token);
    if (o.jwt && token.split(".").length === 3) return o.jwt(token);
    return { error: o.jwt ? "neither a Claw API key nor a JWT" : "not a Claw API key (no JWT issuer is configured)" };
  }
  /** a 429 when `who`'s bucket of `kind` is empty; `per` says whose limit it is */
  async function limited(kind: string, per: string, who: string, rate: RateLimits["key"], rule: RouteRule | undefined, principal?: Principal): Promise<Admission | undefined> {
    if (!rate || !o.limits) return undefined;
    const taken = await o.limits.limiter.take(bucketKey(kind, who), rate);
    if (taken.ok) return undefined;
    return { ok: false, status: 429, code: "rate_limited", message: `too many requests from ${per} (${rate.perSecond}/s, bursts of ${rate.burst}); retry in ${taken.retryAfterS} s`, rule, principal, headers: { "retry-after": String(taken.retryAfterS) } };
  }
  /** the credential's own limits: on every route, and on the routes of each limited scope */
  async function credentialLimits(who: Principal, rule: RouteRule | undefined, params: Record<string, string>): Promise<Admission | undefined> {
    if (!o.limits || who === OPEN) return undefined;
    const l = o.limits.limits;
    const byKey = await limited("key", "this credential", who.id, l.key, rule, who);
    if (byKey) return byKey;
    for (const needed of rule?.scopes?.(params) ?? []) {
      const base = needed.split(":").slice(0, 2).join(":");
      const r = await limited(`scope.${base.replace(":", "_")}`, `this credential on ${base}`, who.id, l.scopes[base], rule, who);
      if (r) return r;
    }
    return undefined;
  }
  return {
    async admit(req, found) {
      const rule = found && "rule" in found ? found.rule : undefined;
      const params = found && "rule" in found ? found.params : {};
      if (rule?.public || (rule?.path === "/metrics" && o.metricsPublic)) return { ok: true, principal: OPEN, rule };
      const byAddress = await limited("addr", "this address", req.socket.remoteAddress ?? "unknown", o.limits?.limits.address, rule);
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
      const needed = rule?.scopes?.(params) ?? [];
      const narrowed = (s: string) => rule?.narrowedInHandler === true && who.scopes.some((g) => g.startsWith(`${s}:`));
      if (needed.length > 0 && !needed.some((s) => covers(who.scopes, s) || narrowed(s))) {
        const scope = needed.join(" or ");
        return { ok: false, status: 403, code: "forbidden", message: `this needs the scope ${scope}`, principal: who, rule, scope, headers: { "www-authenticate": `${CHALLENGE}, error="insufficient_scope", scope="${needed[0]}"` } };
      }
      return (await credentialLimits(who, rule, params)) ?? { ok: true, principal: who, rule };
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
