/**
 * A URL's host resolved once, every address checked, and a connection that
 * can go nowhere else: the undici `Agent` of {@link pinnedAgent} answers
 * the socket's own lookup with the addresses that were checked, so no second
 * DNS answer (rebinding) is ever used. Node's global `fetch` is a different
 * undici than the `undici` package: requests through a pinned agent use the
 * package's `request`/`fetch`.
 */
import type { LookupAddress, LookupOneOptions, LookupAllOptions } from "node:dns";
import type { Agent } from "undici";
import { addressRange } from "./address-range.js";
import { PrivateAddressError, UnresolvableHostError } from "./errors.js";
import type { HostResolver, ResolvedAddress } from "./host-resolver.js";

/** A URL whose host has been resolved and checked. */
export interface PinnedTarget {
  readonly url: URL;
  /** the host as connected to: a name, or an IP literal without brackets */
  readonly host: string;
  /** the addresses checked, and the only ones connected to */
  readonly addresses: readonly ResolvedAddress[];
}

/** Options of {@link pinTarget}. */
export interface PinOptions {
  resolver: HostResolver;
  /** addresses off the public internet (loopback, private, link-local, CGNAT, NAT64 of one, …) are allowed */
  allowPrivate: boolean;
  /** gives up resolving when aborted */
  signal?: AbortSignal;
}

/** `url`'s host without the brackets of an IPv6 literal. */
export const hostOf = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, "$1");

function raced<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/**
 * Resolves `url`'s host once and checks every address it has: one that is
 * not on the public internet refuses the whole host ({@link PrivateAddressError})
 * unless `allowPrivate`. Throws {@link UnresolvableHostError} for a name
 * without addresses.
 */
export async function pinTarget(url: URL, o: PinOptions): Promise<PinnedTarget> {
  const host = hostOf(url);
  const addresses = await raced(o.resolver.resolve(host), o.signal);
  if (addresses.length === 0) throw new UnresolvableHostError(host, "no addresses");
  if (!o.allowPrivate) {
    const refused = addresses.map((a) => ({ a, r: addressRange(a.address) })).filter((x) => x.r.range !== "unicast");
    if (refused.length > 0) {
      const literal = addresses.length === 1 && addresses[0]!.address === host;
      throw new PrivateAddressError(
        host,
        refused.map((x) => `${x.a.address} (${x.r.range}${x.r.judged !== x.a.address ? ` ${x.r.judged}` : ""})`),
        literal,
      );
    }
  }
  return { url, host, addresses };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** The `undici` package, loaded when a node first makes an outbound request (a node that makes none never loads it). */
let undici: Promise<typeof import("undici")> | undefined;
export const loadUndici = (): Promise<typeof import("undici")> => (undici ??= import("undici"));

/**
 * An undici dispatcher whose connections to `target.host` go to the checked
 * addresses and nowhere else (a connection to any other host fails). One per
 * request: `destroy()` it when done.
 */
export async function pinnedAgent(target: PinnedTarget, o: { connectTimeoutMs?: number } = {}): Promise<Agent> {
  const { Agent } = await loadUndici();
  const lookup = (hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void => {
    const wanted = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
    const family = typeof options === "object" ? (options.family === "IPv4" ? 4 : options.family === "IPv6" ? 6 : options.family) : undefined;
    const fit = target.addresses.filter((a) => !family || a.family === family);
    if (wanted !== target.host.toLowerCase() || fit.length === 0) {
      const err: NodeJS.ErrnoException = new Error(
        `${hostname} is not the checked host ${target.host}${fit.length === 0 ? " (no checked address of that family)" : ""}`,
      );
      err.code = "ENOTFOUND";
      return callback(err, "");
    }
    if (typeof options === "object" && options.all)
      return callback(
        null,
        fit.map((a) => ({ address: a.address, family: a.family })),
      );
    callback(null, fit[0]!.address, fit[0]!.family);
  };
  return new Agent({ connect: { lookup: lookup as never, timeout: o.connectTimeoutMs ?? 10_000 } });
}
