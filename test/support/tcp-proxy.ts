/**
 * A TCP proxy between a client and a server that can cut the network and
 * heal it: while cut nothing is forwarded either way (bytes wait in the
 * socket buffers, as they do behind a dead link) and new connections are
 * accepted but not connected onwards; healing forwards everything again.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

/** A running proxy. */
export interface TcpProxy extends AsyncDisposable {
  readonly port: number;
  readonly url: string;
  /** stop forwarding in both directions */
  cut(): void;
  /** forward again */
  heal(): void;
  /** resets every connection: what was on its way (held by a cut) is lost, as when a link dies with bytes in flight */
  drop(): void;
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream?: Socket;
}

/** Starts a proxy on a free loopback port to `127.0.0.1:<targetPort>`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const links = new Set<Link>();
  let isCut = false;

  const pipe = (link: Link) => {
    const upstream = connect(targetPort, "127.0.0.1");
    link.upstream = upstream;
    link.client.pipe(upstream);
    upstream.pipe(link.client);
    const end = () => {
      link.client.destroy();
      upstream.destroy();
      links.delete(link);
    };
    upstream.on("error", end).on("close", end);
    link.client.on("error", end).on("close", end);
  };

  const server: Server = createServer((client) => {
    const link: Link = { client };
    links.add(link);
    if (isCut) {
      // accepted by the kernel, as a connection behind a dead link is, but nothing reaches the server
      client.pause();
      client.on("error", () => links.delete(link)).on("close", () => links.delete(link));
      return;
    }
    pipe(link);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;

  const close = async () => {
    for (const l of links) {
      l.client.destroy();
      l.upstream?.destroy();
    }
    await new Promise<void>((r) => server.close(() => r()));
  };
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    cut() {
      isCut = true;
      for (const l of links) {
        // unpiped, not only paused: a piped stream resumes when its destination drains
        if (l.upstream) {
          l.client.unpipe(l.upstream);
          l.upstream.unpipe(l.client);
          l.upstream.pause();
        }
        l.client.pause();
      }
    },
    heal() {
      isCut = false;
      for (const l of links) {
        if (!l.upstream) {
          l.client.removeAllListeners("close").removeAllListeners("error");
          pipe(l);
          l.client.resume();
          continue;
        }
        l.client.pipe(l.upstream);
        l.upstream.pipe(l.client);
      }
    },
    drop() {
      for (const l of links) {
        l.client.destroy();
        l.upstream?.destroy();
      }
      links.clear();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
