/**
 * Who may call what: the check each request passes before it is routed,
 * against the scopes the route table (api-routes.ts) gives each route.
 *
 * - On loopback (the default bind) the gateway is open unless `CLAW_AUTH=required`
 *   (a request that brings a Claw credential — an API key, or a JWT where an issuer is trusted — is still checked:
 *   its scopes and tenant apply; another bearer, such as an OpenAI client's placeholder key, is none);
 *   listening on any other address, everything but `/healthz`, `/readyz`,
 *   `/openapi.json` and the platforms' webhooks (they carry their own
 *   signatures) needs a credential: no credential → 401, a credential
 *   without the route's scope → 403 naming it.
 * - Credentials: `Authorization: Bearer <API key or JWT>`. A browser (the
 *   live view, the web chat and its WebSocket) may bring it once as
 *   `?access_token=` on a page: the node checks it, then answers with an
 *   HttpOnly, SameSite=Strict cookie (`Secure` when the page came over
 *   HTTPS) and the same page without the token in its URL. The cookie is
 *   taken for GET requests only (nothing it could be tricked into sending
 *   changes anything).
 * - Checking an API key's secret is slow on purpose: how many checks a
 *   client address may cause is bounded (auth/hash-budget.ts), 429 past it.
 * - Rate limits (`CLAW_CONFIG` `rateLimits`, buckets shared by every node in
 *   KV): per client address before credentials are checked, then per
 *   credential and per credential on a scope's routes; 429 with
 *   `Retry-After`. Public routes are not limited (health; webhooks, whose
 *   platforms send again what is refused).
 * - A tenant's credential calls only the routes that keep to its tenant
 *   (tenant-scope.ts `TENANT_ROUTES`); any other answers 403 `not_for_tenants`.
 * - Tenants' quotas (src/tenants): a tenant credential's messages past its
 *   tenant's `messagesPerMinute` (counted in the same shared buckets) get 429
 *   `quota_exceeded` naming the tenant, with `Retry-After`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  bucketKey,
  covers,
  type ApiKeyVerifier,
  type JwtVerifier,
  type KeyRejection,
  type Principal,
  type RateLimiter,
  type RateLimits,
} from "../auth/index.js";
import type { RouteLookup, RouteRule } from "./api-routes.js";
import { OPEN, principals } from "./principal.js";
import { TENANT_ROUTES } from "./tenant-scope.js";
import { secondsToNextDay, type QuotaName, type TenantDirectory, type UsageMeter } from "../tenants/index.js";

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
  /** the tenants whose quotas apply to their credentials, and the shared buckets they are counted in */
  quotas?: { tenants: TenantDirectory; limiter: RateLimiter; usage?: UsageMeter; onRefused?: (tenant: string, quota: QuotaName) => void };
}

/** A request let in, or refused with its status. */
export type Admission =
  | { ok: true; principal: Principal; rule?: RouteRule }
  | {
      ok: false;
      status: 401 | 403 | 429 | 503;
      code: string;
      message: string;
      principal?: Principal;
      rule?: RouteRule;
      scope?: string;
      /** the tenant whose quota refused it (`quota_exceeded`) */
      tenant?: string;
      headers: Record<string, string>;
    };

/** The access check of a gateway. */
export interface Access {
  /** lets a request from the client address `from` in, or says why not */
  admit(req: IncomingMessage, found: RouteLookup, from: string): Promise<Admission>;
  /**
   * the same check for a call of another transport (gRPC): `token` is its bearer credential (undefined: none came),
   * `found` the route whose scopes and limits it shares
   */
  admitToken(token: string | undefined, found: RouteLookup, from: string): Promise<Admission>;
  /** a bearer token (a page's `?access_token=`) let in, or refused as the header's would be */
  checkToken(token: string, from: string): Promise<Admission>;
  /** true for a route anyone may call (health, the platforms' signed webhooks, `/metrics` when public) */
  isPublic(rule: RouteRule | undefined): boolean;
}

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

/** The answer to a credential not taken: 401, or 429/503 when it could not be checked now. */
function rejected(r: KeyRejection, rule: RouteRule | undefined): Admission {
  if (r.refused) {
    const throttled = r.refused.refused === "throttled";
    return {
      ok: false,
      status: throttled ? 429 : 503,
      code: throttled ? "rate_limited" : "busy",
      message: r.error,
      rule,
      headers: { "retry-after": String(r.refused.retryAfterS) },
    };
  }
  return { ok: false, status: 401, code: "invalid_credential", message: r.error, rule, headers: { "www-authenticate": `${CHALLENGE}, error="invalid_token"` } };
}

/** True for a scope of the routes that bring messages to agents (messages, invoke, chat completions). */
const bringsMessages = (scope: string) => scope === "messages:write" || scope === "agents:invoke" || scope.startsWith("agents:invoke:");

/** Creates the check every request passes. */
export function createAccess(o: AccessOptions): Access {
  async function authenticate(token: string, from: string): Promise<Principal | KeyRejection> {
    if (token.startsWith("claw_")) return o.keys.verify(token, { from });
    if (o.jwt && token.split(".").length === 3) return o.jwt(token);
    return { error: o.jwt ? "neither a Claw API key nor a JWT" : "not a Claw API key (no JWT issuer is configured)" };
  }
  /** a 429 when `who`'s bucket of `kind` is empty; `per` says whose limit it is */
  async function limited(
    kind: string,
    per: string,
    who: string,
    rate: RateLimits["key"],
    rule: RouteRule | undefined,
    principal?: Principal,
  ): Promise<Admission | undefined> {
    if (!rate || !o.limits) return undefined;
    const taken = await o.limits.limiter.take(bucketKey(kind, who), rate);
    if (taken.ok) return undefined;
    return {
      ok: false,
      status: 429,
      code: "rate_limited",
      message: `too many requests from ${per} (${rate.perSecond}/s, bursts of ${rate.burst}); retry in ${taken.retryAfterS} s`,
      rule,
      principal,
      headers: { "retry-after": String(taken.retryAfterS) },
    };
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
  /**
   * a tenant's quotas on the routes that bring messages in: past `tokensPerDay` (today's tokens, UTC) or
   * `messagesPerMinute`, 429 `quota_exceeded`
   */
  async function tenantQuota(who: Principal, rule: RouteRule | undefined, needed: readonly string[]): Promise<Admission | undefined> {
    if (!o.quotas || !who.tenant || rule?.method !== "POST" || !needed.some(bringsMessages)) return undefined;
    const q = o.quotas;
    const tenant = who.tenant;
    const quotas = q.tenants.get(tenant)?.tenant.quotas ?? {};
    const refuse = (quota: QuotaName, message: string, retryAfterS: number): Admission => {
      q.onRefused?.(tenant, quota);
      return { ok: false, status: 429, code: "quota_exceeded", message, rule, principal: who, tenant, headers: { "retry-after": String(retryAfterS) } };
    };
    if (quotas.tokensPerDay !== undefined && q.usage) {
      // the counters cannot be read (NATS away): let it through, as the rate limits do
      const used = await q.usage.tokensToday(tenant).catch(() => 0);
      if (used >= quotas.tokensPerDay) {
        const retry = secondsToNextDay(Date.now());
        return refuse("tokensPerDay", `the tenant ${tenant} has used its ${quotas.tokensPerDay} tokens of today (UTC); retry in ${retry} s`, retry);
      }
    }
    const perMinute = quotas.messagesPerMinute;
    if (perMinute === undefined) return undefined;
    const taken = await q.limiter.take(bucketKey("tenant.messages", tenant), { perSecond: perMinute / 60, burst: perMinute });
    if (taken.ok) return undefined;
    return refuse(
      "messagesPerMinute",
      `the tenant ${tenant} is past its quota of ${perMinute} messages a minute; retry in ${taken.retryAfterS} s`,
      taken.retryAfterS,
    );
  }
  const isCredential = (token: string) => token.startsWith("claw_") || (o.jwt !== undefined && token.split(".").length === 3);
  const isPublic = (rule: RouteRule | undefined) => rule?.public === true || (rule?.path === "/metrics" && o.metricsPublic);
  async function admitToken(token: string | undefined, found: RouteLookup, from: string): Promise<Admission> {
    const rule = found && "rule" in found ? found.rule : undefined;
    const params = found && "rule" in found ? found.params : {};
    if (isPublic(rule)) return { ok: true, principal: OPEN, rule };
    const byAddress = await limited("addr", "this address", from, o.limits?.limits.address, rule);
    if (byAddress) return byAddress;
    // an open gateway (loopback) lets in a request with no credential as the operator; one that brings a Claw credential
    // (an API key, or a JWT where an issuer is trusted) has it checked as anywhere else, and its tenant applies. Any
    // other bearer — the placeholder key OpenAI clients must send ("unused") — is no credential there
    if (!o.required && (token === undefined || !isCredential(token))) return { ok: true, principal: OPEN, rule };
    if (token === undefined)
      return {
        ok: false,
        status: 401,
        code: "unauthenticated",
        message: "this needs a credential: Authorization: Bearer <API key or JWT> (create a key with `claw keys create`)",
        rule,
        headers: { "www-authenticate": CHALLENGE },
      };
    const who: Principal | KeyRejection = token === "" ? { error: "the Authorization header is not `Bearer <token>`" } : await authenticate(token, from);
    if ("error" in who) return rejected(who, rule);
    // no such route: a known caller learns so (404/405 from the router)
    const needed = rule?.scopes?.(params) ?? [];
    const narrowed = (s: string) => rule?.narrowedInHandler === true && who.scopes.some((g) => g.startsWith(`${s}:`));
    if (needed.length > 0 && !needed.some((s) => covers(who.scopes, s) || narrowed(s))) {
      const scope = needed.join(" or ");
      return {
        ok: false,
        status: 403,
        code: "forbidden",
        message: `this needs the scope ${scope}`,
        principal: who,
        rule,
        scope,
        headers: { "www-authenticate": `${CHALLENGE}, error="insufficient_scope", scope="${needed[0]}"` },
      };
    }
    if (who.tenant !== undefined && rule && !TENANT_ROUTES.has(`${rule.method} ${rule.path}`))
      return {
        ok: false,
        status: 403,
        code: "not_for_tenants",
        message: `${rule.method} ${rule.path} reaches the whole cluster: a tenant's credential may not call it`,
        principal: who,
        rule,
        headers: {},
      };
    return (await credentialLimits(who, rule, params)) ?? (await tenantQuota(who, rule, needed)) ?? { ok: true, principal: who, rule };
  }
  return {
    isPublic,
    async checkToken(token, from) {
      const who = await authenticate(token, from);
      return "error" in who ? rejected(who, undefined) : { ok: true, principal: who };
    },
    async admit(req, found, from) {
      const a = await admitToken(credentialOf(req), found, from);
      if (a.ok) principals.set(req, a.principal);
      return a;
    },
    admitToken,
  };
}

/**
 * A page opened with `?access_token=`: a token that verifies becomes a
 * cookie and the page is loaded again without it in its URL (true: the
 * request is answered). One that does not is answered as any refused
 * credential, and sets nothing.
 */
export async function tokenToCookie(req: IncomingMessage, res: ServerResponse, url: URL, check: (token: string) => Promise<Admission>): Promise<boolean> {
  const token = url.searchParams.get("access_token");
  if (!token || (req.method !== "GET" && req.method !== "HEAD")) return false;
  const refused = await check(token);
  if (!refused.ok) {
    const data = JSON.stringify({ error: { code: refused.code, message: refused.message } });
    res.writeHead(refused.status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(data),
      "cache-control": "no-store",
      ...refused.headers,
    });
    res.end(data);
    return true;
  }
  url.searchParams.delete("access_token");
  // Secure when the browser came over HTTPS (a TLS proxy says so); on plain HTTP the cookie could not be sent back
  const https =
    (req.socket as { encrypted?: boolean } | null)?.encrypted === true ||
    String(req.headers["x-forwarded-proto"] ?? "")
      .split(",")[0]!
      .trim()
      .toLowerCase() === "https";
  res.writeHead(303, {
    location: `${url.pathname}${url.search}`,
    "set-cookie": `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/${https ? "; Secure" : ""}`,
    "cache-control": "no-store",
  });
  res.end();
  return true;
}
