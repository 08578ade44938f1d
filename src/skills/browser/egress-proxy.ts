/**
 * The only way out for a browser the node runs: an HTTP proxy on a loopback
 * port of the node's own, for one invocation. Chromium is started with it as
 * its proxy for every scheme, loopback included, and with a host resolver
 * that resolves nothing itself — so every request the page makes (the first
 * URL, each redirect, each subresource, each fetch/XHR, each WebSocket)
 * arrives here as a `CONNECT host:port` or an absolute-URI request, and is
 * checked like `http.fetch`'s: on the allowlist (`CLAW_BROWSER_ALLOW`), its
 * host resolved once with every address checked (private, loopback and
 * link-local refused unless the host is named exactly), and the connection
 * pinned to the addresses checked. What is refused is answered 403 and
 * recorded.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { pinTarget, PrivateAddressError, type HostResolver } from "../../net/index.js";
import type { FetchAllowlist } from "../fetch-allowlist.js";

/** A request the proxy refused: where to, and why. */
export interface Refusal {
  url: string;
  reason: string;
}

/** One invocation's proxy. */
export interface EgressProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** what was refused, in order */
  readonly refused: readonly Refusal[];
  close(): Promise<void>;
}

/** The proxy's checks: the allowlist, and the resolver hosts are resolved with once. */
export interface EgressProxyOptions {
  allow: FetchAllowlist;
  resolver: HostResolver;
  /** the setting named in a refusal (`CLAW_BROWSER_ALLOW`) */
  setting: string;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"]);

/** Starts a proxy for one invocation. */
export async function startEgressProxy(o: EgressProxyOptions): Promise<EgressProxy> {
  const refused: Refusal[] = [];
  const sockets = new Set<Duplex>();

  /** The pinned address to connect to for `url`, or the reason it is refused. */
  const admit = async (url: URL): Promise<{ address: string } | { reason: string }> => {
    if (url.protocol !== "http:" && url.protocol !== "https:") return { reason: `only http and https: ${url.protocol}` };
    const admitted = o.allow.admits(url);
    if (!admitted.allowed) return { reason: `${url.host} is not among the hosts this node allows (${o.setting})` };
    try {
      const t = await pinTarget(url, { resolver: o.resolver, allowPrivate: admitted.privateAllowed, signal: AbortSignal.timeout(10_000) });
      return { address: t.addresses[0]!.address };
    } catch (e) {
      const why = (e as Error)?.message ?? String(e);
      return { reason: e instanceof PrivateAddressError ? `${why}; name the host exactly in ${o.setting} (with its port) to allow it` : why };
    }
  };
  const refuse = (url: string, reason: string) => {
    refused.push({ url, reason });
    return reason;
  };
  const track = (s: Duplex) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      let url: URL;
      try {
        url = new URL(req.url ?? "");
      } catch {
        res.writeHead(400).end("a proxy takes absolute URLs");
        return;
      }
      const at = await admit(url);
      if ("reason" in at) {
        res.writeHead(403, { "content-type": "text/plain" }).end(`refused by Claw: ${refuse(url.href, at.reason)}`);
        return;
      }
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !HOP_BY_HOP.has(k)));
      const upstream = httpRequest({
        host: at.address,
        port: Number(url.port || 80),
        method: req.method,
        path: `${url.pathname}${url.search}`,
        headers,
        setHost: false,
      });
      upstream.on("response", (r) => {
        res.writeHead(r.statusCode ?? 502, Object.fromEntries(Object.entries(r.headers).filter(([k]) => !HOP_BY_HOP.has(k))));
        r.pipe(res);
      });
      upstream.on("error", (e) => (res.headersSent ? res.destroy() : res.writeHead(502).end(`upstream: ${e.message}`)));
      req.pipe(upstream);
    })();
  });
  server.on("connection", track);
  // HTTPS and WebSockets: a tunnel to the checked address, the TLS end to end between the page and the site
  server.on("connect", (req: IncomingMessage, client: Duplex, head: Buffer) => {
    track(client);
    void (async () => {
      const url = new URL(`https://${req.url ?? ""}`);
      const at = await admit(url);
      if ("reason" in at) {
        refuse(`https://${req.url}`, at.reason);
        client.end("HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\nrefused by Claw\r\n");
        return;
      }
      const upstream: Socket = connect({ host: at.address, port: Number(url.port || 443) });
      track(upstream);
      upstream.once("connect", () => {
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        if (head.length) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.once("error", () => client.destroy());
      client.once("close", () => upstream.destroy());
    })();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    refused,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
