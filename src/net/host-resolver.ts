/**
 * Turns a host name into addresses, once per request: the addresses a
 * request is checked against are the ones it connects to (see
 * pinned-target.ts), so a name that answers differently the second time
 * (DNS rebinding) gains nothing. By default the system's resolver
 * (`getaddrinfo`: `/etc/hosts`, then DNS); with `servers` (`CLAW_DNS_SERVERS`)
 * those DNS servers are asked directly for A and AAAA records.
 */
import { lookup, Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import { UnresolvableHostError } from "./errors.js";

/** One address a host resolved to. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves host names for requests made on someone's behalf. */
export interface HostResolver {
  /** every address of `host` (an IP literal is its own answer); throws {@link UnresolvableHostError} */
  resolve(host: string): Promise<ResolvedAddress[]>;
}

/** Options of {@link createHostResolver}. */
export interface HostResolverOptions {
  /** DNS servers to ask instead of the system's resolver: `ip` or `ip:port` (`[v6]:port`) */
  servers?: readonly string[];
  /** one query's time limit in ms (default 2000; with `servers` only) */
  timeoutMs?: number;
}

/** The parts of a DNS server given as `ip`, `ip:port` or `[v6]:port`; undefined when it is not one. */
export function parseDnsServer(s: string): { address: string; port: number } | undefined {
  const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s) ?? (isIP(s) === 6 ? [s, s, undefined] : /^([^:]+)(?::(\d{1,5}))?$/.exec(s));
  if (!m || isIP(m[1]!) === 0) return undefined;
  const port = m[2] === undefined ? 53 : Number(m[2]);
  return port >= 1 && port <= 65535 ? { address: m[1]!, port } : undefined;
}

/** A resolver: the system's, or one asking `servers`. */
export function createHostResolver(o: HostResolverOptions = {}): HostResolver {
  const servers = o.servers?.filter(Boolean) ?? [];
  const literal = (host: string): ResolvedAddress[] | undefined => {
    const family = isIP(host);
    return family === 0 ? undefined : [{ address: host, family: family as 4 | 6 }];
  };
  if (servers.length === 0) {
    return {
      async resolve(host) {
        const own = literal(host);
        if (own) return own;
        try {
          const all = await lookup(host, { all: true, order: "verbatim" });
          if (all.length === 0) throw new UnresolvableHostError(host, "no addresses");
          return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
        } catch (e) {
          if (e instanceof UnresolvableHostError) throw e;
          throw new UnresolvableHostError(host, (e as NodeJS.ErrnoException).code ?? (e as Error).message, { cause: e });
        }
      },
    };
  }
  const resolver = new Resolver({ timeout: o.timeoutMs ?? 2_000, tries: 2 });
  resolver.setServers(
    servers.map((s) => {
      const p = parseDnsServer(s);
      if (!p) throw new TypeError(`not a DNS server address: ${s}`);
      return isIP(p.address) === 6 ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`;
    }),
  );
  return {
    async resolve(host) {
      const own = literal(host);
      if (own) return own;
      const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
      const found: ResolvedAddress[] = [
        ...(v4.status === "fulfilled" ? v4.value.map((address) => ({ address, family: 4 as const })) : []),
        ...(v6.status === "fulfilled" ? v6.value.map((address) => ({ address, family: 6 as const })) : []),
      ];
      if (found.length > 0) return found;
      const why = v4.status === "rejected" ? v4.reason : v6.status === "rejected" ? v6.reason : undefined;
      throw new UnresolvableHostError(host, (why as NodeJS.ErrnoException | undefined)?.code ?? "no addresses", { cause: why });
    },
  };
}
