/**
 * The hosts `http.fetch` may reach (`CLAW_HTTP_FETCH_ALLOW`), entry by entry:
 *
 * - `api.example.com`: that host, any port;
 * - `*.example.org`: its subdomains (not itself), any port;
 * - `10.0.0.5:8080`, `internal.svc:443`, `*.example.org:8443`, `[fd00::5]:8080`:
 *   the same, on that port only.
 *
 * A host named exactly (not by a wildcard) may be on a private address —
 * that is how an operator lets agents reach an internal service, one port of
 * it when the entry has a port. Any other host must resolve only to public
 * addresses (checked in src/net).
 */
import { isIP } from "node:net";

/** One entry of the allowlist, parsed. */
export interface FetchAllowEntry {
  /** lowercase host name or IP literal (no brackets); for a wildcard, the suffix after `*.` */
  host: string;
  wildcard: boolean;
  /** only this port; undefined: any */
  port?: number;
}

/** An allowlist entry that is not one of the forms above. */
export class FetchAllowEntryError extends Error {
  readonly code = "invalid_allow_entry";
  constructor(readonly entry: string) {
    super(`${JSON.stringify(entry)} is not a host, *.domain, host:port or [IPv6]:port`);
    this.name = "FetchAllowEntryError";
  }
}

const NAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/;

/** The host as a URL would carry it (lowercase, IPv4 in dotted decimal, IPv6 compressed), without brackets; undefined when it is not a host. */
function canonicalHost(host: string): string | undefined {
  // only a host: the URL parser below would take a path, a user or a port off it quietly
  if (isIP(host) !== 6 && !/^[a-z0-9._-]+$/.test(host)) return undefined;
  let hostname: string;
  try {
    hostname = new URL(`http://${isIP(host) === 6 ? `[${host}]` : host}/`).hostname;
  } catch {
    return undefined;
  }
  const bare = hostname.replace(/^\[(.*)\]$/, "$1");
  return isIP(bare) !== 0 || NAME.test(bare) ? bare : undefined;
}

/** Parses one entry; throws {@link FetchAllowEntryError}. */
export function parseFetchAllowEntry(text: string): FetchAllowEntry {
  const s = text.trim().toLowerCase();
  let host: string;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracketed?.[1] !== undefined) [host, port] = [bracketed[1], bracketed[2]];
  else if (isIP(s) === 6) host = s;
  else [host, port] = s.split(/:(?=[^:]*$)/) as [string, string | undefined];
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) throw new FetchAllowEntryError(text);
  const wildcard = host.startsWith("*.");
  const canonical = canonicalHost(wildcard ? host.slice(2) : host);
  if (!canonical || (wildcard && isIP(canonical) !== 0)) throw new FetchAllowEntryError(text);
  return { host: canonical, wildcard, ...(port !== undefined ? { port: Number(port) } : {}) };
}

/** The node's allowlist. */
export interface FetchAllowlist {
  readonly entries: readonly FetchAllowEntry[];
  /** whether `url` may be fetched, and whether its host may be on a private address (named exactly by a matching entry) */
  admits(url: URL): { allowed: false } | { allowed: true; privateAllowed: boolean };
}

/** The allowlist of `entries` (as in `CLAW_HTTP_FETCH_ALLOW`); throws {@link FetchAllowEntryError} on the first bad one. */
export function fetchAllowlist(entries: readonly string[]): FetchAllowlist {
  const parsed = entries.filter((e) => e.trim()).map(parseFetchAllowEntry);
  return {
    entries: parsed,
    admits(url) {
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
      const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
      const matching = parsed.filter((e) => (e.port === undefined || e.port === port) && (e.wildcard ? host.endsWith(`.${e.host}`) : host === e.host));
      return matching.length === 0 ? { allowed: false } : { allowed: true, privateAllowed: matching.some((e) => !e.wildcard) };
    },
  };
}
