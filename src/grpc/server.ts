/**
 * A node's gRPC server (`CLAW_GRPC_PORT`, bound where the HTTP gateway is):
 * `claw.v1.Claw` (claw-service.ts), the standard health service
 * `grpc.health.v1.Health` — SERVING exactly while `/readyz` says ready, so a
 * load balancer's gRPC health check takes a node out of rotation when NATS
 * goes away — and server reflection, so `grpcurl` and Postman work without
 * the .proto file. TLS with `CLAW_GRPC_TLS_CERT`/`_KEY`; with
 * `CLAW_GRPC_TLS_CA` a client must present a certificate that CA signed.
 *
 * The port is bound at start, and the certificates read and checked then;
 * gRPC's libraries load on the first connection (core.ts): a node no gRPC
 * client calls never pays their modules and heap, and the first call on a
 * node pays ~0.1–0.2 s once. Connections that arrive while they load wait,
 * paused, and are served once they have.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { lookup } from "node:dns/promises";
import { createServer, isIP, type Server, type Socket } from "node:net";
import { createSecureContext } from "node:tls";
import { createAccess, type AccessOptions } from "../gateway/access.js";
import type { ClawServiceOptions } from "./claw-service.js";
import type { GrpcCore, GrpcCoreOptions } from "./core.js";

export { CLAW_PROTO, CLAW_SERVICE } from "./names.js";

/** Options of {@link startGrpcServer}. */
export interface GrpcServerOptions extends Omit<ClawServiceOptions, "streams" | "access"> {
  host: string;
  /** 0 picks a free port */
  port: number;
  /** PEM files: the server's certificate and key, and the CA that signs clients' certificates (mTLS) */
  tls?: { cert: string; key: string; ca?: string };
  /** the largest request taken (the gateway's `CLAW_MAX_PAYLOAD`, with room for the request's own fields) */
  maxPayload: number;
  /** who may call what: the HTTP gateway's settings (same keys, JWTs, scopes, rate-limit buckets) */
  access?: AccessOptions;
  /** whether the node serves now: the health service's SERVING */
  ready: () => boolean;
  /** told once gRPC's libraries have loaded (on the first connection), with how long that took */
  onLoaded?: (ms: number) => void;
}

/** A running gRPC server. */
export interface GrpcServer {
  readonly port: number;
  /** NOT_SERVING, open `Replies` streams ended, calls in flight let finish until `deadline` (ms since the epoch), then cut */
  close(deadline?: number): Promise<void>;
  /** cuts every call now */
  kill(): void;
}

/** The server could not start: a certificate it cannot read, a port it cannot have. The message names the setting. */
export class GrpcStartError extends Error {
  readonly code = "grpc_start";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "GrpcStartError";
  }
}

function readPem(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new GrpcStartError(`${setting}: cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The PEM files, read and checked now — a certificate and its key, a CA that
 * is a certificate — so that a setting that cannot work stops the start, not
 * the first call (grpc-js, which uses them, loads only then).
 */
function readTls(tls: GrpcServerOptions["tls"]): GrpcCoreOptions["tls"] {
  if (!tls) return undefined;
  const cert = readPem(tls.cert, "CLAW_GRPC_TLS_CERT");
  const key = readPem(tls.key, "CLAW_GRPC_TLS_KEY");
  const ca = tls.ca ? readPem(tls.ca, "CLAW_GRPC_TLS_CA") : undefined;
  try {
    createSecureContext({ cert, key });
  } catch (e) {
    throw new GrpcStartError(`CLAW_GRPC_TLS_CERT, CLAW_GRPC_TLS_KEY: not a PEM certificate and its key: ${(e as Error).message}`, { cause: e });
  }
  if (ca) {
    try {
      new X509Certificate(ca);
    } catch (e) {
      throw new GrpcStartError(`CLAW_GRPC_TLS_CA: ${tls.ca} is not a PEM certificate: ${(e as Error).message}`, { cause: e });
    }
  }
  return { cert, key, ca };
}

/** `host:port` as messages write it (an IPv6 address in brackets). */
function addressOf(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A port that cannot be had: an error naming `CLAW_GRPC_PORT`. */
function portError(address: string, e: Error): GrpcStartError {
  const inUse = /EADDRINUSE|address already in use/i.test(e.message);
  return new GrpcStartError(
    `CLAW_GRPC_PORT: cannot listen on ${address}${inUse ? ": another process uses this port" : `: ${e.message}`} ` +
      "(set CLAW_GRPC_PORT to a free port, 0 for any, or off)",
    { cause: e },
  );
}

function listenOn(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}

/**
 * Listens on every address `host` names, as grpc-js's bindAsync did: an IP
 * as it is, a name (`localhost`) on each address it resolves to, all on the
 * port the first one got when `port` is 0. One address bound is enough.
 */
async function listen(host: string, port: number, onConnection: (socket: Socket) => void): Promise<{ servers: Server[]; port: number }> {
  const address = addressOf(host, port);
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  let ips: string[];
  try {
    ips = isIP(bare) ? [bare] : [...new Set((await lookup(bare, { all: true })).map((a) => a.address))];
  } catch (e) {
    throw portError(address, e as Error);
  }
  const servers: Server[] = [];
  const errors: Error[] = [];
  let bound = port;
  for (const ip of ips) {
    // paused: nothing is read from a connection before the server that reads it has loaded
    const server = createServer({ pauseOnConnect: true }, onConnection);
    try {
      bound = await listenOn(server, ip, bound);
      servers.push(server);
    } catch (e) {
      errors.push(e as Error);
    }
  }
  if (servers.length === 0) throw portError(address, errors[0] ?? new Error(`${bare} resolves to no address`));
  return { servers, port: bound };
}

/** Starts the server; rejects with {@link GrpcStartError} when it cannot. */
export async function startGrpcServer(o: GrpcServerOptions): Promise<GrpcServer> {
  const { host, port: wanted, tls, access, onLoaded, ...service } = o;
  const core: GrpcCoreOptions = { ...service, tls: readTls(tls), access: access ? createAccess(access) : undefined };
  /** the loaded server, once a connection made it load */
  let loaded: GrpcCore | undefined;
  let loading = false;
  let stopped = false;
  /** connections accepted and not closed: cut when the server is */
  const sockets = new Set<Socket>();
  /** connections waiting (paused) for the server to load */
  const waiting = new Set<Socket>();
  const noop = () => {};

  async function load(): Promise<void> {
    loading = true;
    const t0 = performance.now();
    try {
      const { createGrpcCore } = await import("./core.js");
      const created = createGrpcCore(core);
      if (stopped) return created.kill();
      loaded = created;
      onLoaded?.(Math.round(performance.now() - t0));
      for (const socket of waiting) {
        socket.off("error", noop);
        if (!socket.destroyed) loaded.inject(socket);
      }
    } catch (e) {
      // the node serves on without gRPC: the waiting clients are told by a closed connection, the next connection tries again
      o.onError(new Error(`gRPC could not load, ${waiting.size} connection(s) closed: ${(e as Error).message}`, { cause: e }));
      for (const socket of waiting) socket.destroy();
    } finally {
      waiting.clear();
      loading = false;
    }
  }

  function onConnection(socket: Socket): void {
    if (stopped) return void socket.destroy();
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    if (loaded) return loaded.inject(socket);
    // a paused socket reads nothing, so reports nothing, but an error with no listener would end the node
    socket.on("error", noop);
    waiting.add(socket);
    if (!loading) void load();
  }

  const { servers, port } = await listen(host, wanted, onConnection);
  for (const server of servers) server.on("error", (e) => o.onError(e));
  const stop = () => {
    stopped = true;
    for (const server of servers) server.close();
    for (const socket of waiting) socket.destroy();
    waiting.clear();
  };
  return {
    port,
    async close(deadline = Date.now() + 5_000) {
      stop();
      await loaded?.close(deadline);
      for (const socket of sockets) socket.destroy();
    },
    kill() {
      stop();
      loaded?.kill();
      for (const socket of sockets) socket.destroy();
    },
  };
}
