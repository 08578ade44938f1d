/**
 * Where a request may come from: the `Host` it names and the web page
 * (`Origin`) that sent it — checked before anything else, on every request
 * and WebSocket upgrade but the public routes (health, readiness, this
 * document, the platforms' signed webhooks).
 *
 * A gateway open on loopback (no credential, the two-command start) is
 * reachable by every page the machine's browser opens. What keeps those
 * pages out:
 * - `Origin`: a browser names the page behind every request that could
 *   change something, every WebSocket and every cross-origin read. A request
 *   with an `Origin` other than the gateway's own (or one listed in
 *   `CLAW_HTTP_ORIGINS`) is refused, whatever its method. Clients that are
 *   not browsers send none and are not concerned.
 * - `Host`: a page can make its own name resolve to 127.0.0.1 (DNS
 *   rebinding) and be "same origin" with the gateway; its requests still
 *   name that foreign host. The open gateway answers only loopback names
 *   (`localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`, any port) and the
 *   ones listed in `CLAW_HTTP_HOSTS`. A gateway that requires credentials
 *   is reached under pod IPs and names no list can foresee (Kubernetes
 *   probes send `Host: <pod IP>:<port>`), and a rebound page has no
 *   credential: it checks `Host` only when `CLAW_HTTP_HOSTS` is set.
 * - JSON routes take `application/json` only (http-io.ts): no request a
 *   page may send without asking first (a CORS preflight) is taken.
 *
 * A listed origin is answered as CORS expects (preflights, and
 * `Access-Control-Allow-Origin` on its answers), so a page there can use
 * the API with its own credential.
 * See https://fetch.spec.whatwg.org/#http-cors-protocol.
 */
import type { IncomingHttpHeaders } from "node:http";

/** Options of {@link createOriginPolicy}. */
export interface OriginPolicyOptions {
  /** `Host` is checked (the gateway is open, or hosts are listed) */
  checkHost: boolean;
  /** `CLAW_HTTP_HOSTS`: `name` (any port), `name:port`, `*.name` (its subdomains) */
  hosts: readonly string[];
  /** `CLAW_HTTP_ORIGINS`: origins (`https://app.example.com`) whose pages may call the gateway */
  origins: readonly string[];
}

/** Why a request was refused (403). */
export interface OriginRefusal {
  code: "host_refused" | "origin_refused";
  message: string;
}

/** The check, and the CORS answers of listed origins. */
export interface OriginPolicy {
  /** undefined when the request may go on */
  check(headers: IncomingHttpHeaders): OriginRefusal | undefined;
  /** the CORS headers for a listed origin's request (none for any other) */
  corsHeaders(headers: IncomingHttpHeaders): Record<string, string>;
}

/** Headers a listed origin's page may send when its preflight names none (what the API reads). */
const CORS_REQUEST_HEADERS = "authorization, content-type, x-claw-session";

/** `name`, `name:port`, `[v6]`, `[v6]:port` — nothing a URL parser could read a user or path out of. */
const HOST_SHAPE = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/;

/** A parsed `Host`: its name, its port (empty: the scheme's) and both as a URL writes them. */
interface Host {
  name: string;
  port: string;
  /** `name[:port]`, as `URL.host` */
  host: string;
}

/** A `Host` value's name and port, normalised as a browser would (undefined for anything else). */
export function parseHost(value: string | undefined): Host | undefined {
  const host = value?.trim().toLowerCase();
  if (!host || !HOST_SHAPE.test(host)) return undefined;
  try {
    const u = new URL(`http://${host}`);
    return { name: u.hostname.replace(/\.$/, ""), port: u.port, host: u.host };
  } catch {
    return undefined;
  }
}

/** True for a name only this machine answers: `localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`. */
export function isLoopbackName(name: string): boolean {
  return name === "localhost" || name.endsWith(".localhost") || name === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** True when `entry` of `CLAW_HTTP_HOSTS` admits `host`. */
function listedHost(entry: string, host: Host): boolean {
  const e = entry.trim().toLowerCase();
  if (e.startsWith("*.")) return host.name.endsWith(e.slice(1));
  const listed = parseHost(e);
  return !!listed && listed.name === host.name && (listed.port === "" || listed.port === host.port);
}

/** An origin as a browser serialises it (`https://a.example`), undefined for `null` or a malformed one. */
export function originOf(value: string): string | undefined {
  try {
    const u = new URL(value);
    return u.protocol === "http:" || u.protocol === "https:" ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/** Creates the policy; throws a `TypeError` for an origin that is not one. */
export function createOriginPolicy(o: OriginPolicyOptions): OriginPolicy {
  const origins = new Set(
    o.origins.map((s) => {
      const origin = originOf(s);
      if (!origin) throw new TypeError(`not an origin: ${s} (write it as https://host[:port])`);
      return origin;
    }),
  );
  const hostAllowed = (host: Host) => isLoopbackName(host.name) || o.hosts.some((e) => listedHost(e, host));
  const listedOrigin = (headers: IncomingHttpHeaders) => {
    const origin = headers.origin === undefined ? undefined : originOf(headers.origin);
    return origin && origins.has(origin) ? origin : undefined;
  };
  return {
    check(headers) {
      const host = parseHost(headers.host);
      if (o.checkHost) {
        if (!host || !hostAllowed(host)) {
          return {
            code: "host_refused",
            message: `this gateway does not answer for the host ${JSON.stringify(headers.host ?? "")}: list the names it is reached by in CLAW_HTTP_HOSTS`,
          };
        }
      }
      if (headers.origin === undefined) return undefined;
      const origin = originOf(headers.origin);
      // its own pages: the origin names the host the browser reached (the scheme may differ behind a TLS proxy)
      const own = origin !== undefined && host !== undefined && new URL(origin).host === host.host;
      if (own || (origin && origins.has(origin))) return undefined;
      return {
        code: "origin_refused",
        message: `requests from pages of ${headers.origin} are refused: list the origin in CLAW_HTTP_ORIGINS to let its pages call this gateway`,
      };
    },
    corsHeaders(headers) {
      const origin = listedOrigin(headers);
      if (!origin) return {};
      const out: Record<string, string> = { "access-control-allow-origin": origin, vary: "Origin" };
      if (headers["access-control-request-method"] !== undefined) {
        out["access-control-allow-methods"] = "GET, HEAD, POST, DELETE";
        // a listed origin is trusted with whatever headers its client sends (OpenAI's SDK adds its own x-stainless-*)
        const asked = headers["access-control-request-headers"];
        out["access-control-allow-headers"] = typeof asked === "string" && asked.trim() ? asked : CORS_REQUEST_HEADERS;
        out["access-control-max-age"] = "600";
      }
      return out;
    },
  };
}
