/**
 * A node's gRPC server (`CLAW_GRPC_PORT`, bound where the HTTP gateway is):
 * `claw.v1.Claw` (claw-service.ts), the standard health service
 * `grpc.health.v1.Health` — SERVING exactly while `/readyz` says ready, so a
 * load balancer's gRPC health check takes a node out of rotation when NATS
 * goes away — and server reflection, so `grpcurl` and Postman work without
 * the .proto file. TLS with `CLAW_GRPC_TLS_CERT`/`_KEY`; with
 * `CLAW_GRPC_TLS_CA` a client must present a certificate that CA signed.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Server, ServerCredentials, type ServiceDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from "grpc-health-check";
import { createAccess, type AccessOptions } from "../gateway/access.js";
import { clawService, type ClawServiceOptions } from "./claw-service.js";

/** Where the service's definition ships: `proto/claw/v1/claw.proto` in the repository and the image. */
export const CLAW_PROTO = fileURLToPath(new URL("../../proto/claw/v1/claw.proto", import.meta.url));
/** The service's full name (and the health service's name for it). */
export const CLAW_SERVICE = "claw.v1.Claw";
/** How often the health service reads the node's readiness. */
const HEALTH_EVERY_MS = 250;

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

/** The server's credentials: plain, TLS, or TLS asking clients for certificates signed by the CA. */
function credentialsOf(tls: GrpcServerOptions["tls"]): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  const pair = { cert_chain: readPem(tls.cert, "CLAW_GRPC_TLS_CERT"), private_key: readPem(tls.key, "CLAW_GRPC_TLS_KEY") };
  const ca = tls.ca ? readPem(tls.ca, "CLAW_GRPC_TLS_CA") : null;
  try {
    return ServerCredentials.createSsl(ca, [pair], ca !== null);
  } catch (e) {
    throw new GrpcStartError(`CLAW_GRPC_TLS_CERT, CLAW_GRPC_TLS_KEY: not a PEM certificate and its key: ${(e as Error).message}`, { cause: e });
  }
}

/** The service definitions: Claw's, and the health service's (for reflection). */
function definitions() {
  const pkg = loadSync([CLAW_PROTO, healthProtoPath], { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  return { pkg, claw: pkg[CLAW_SERVICE] as ServiceDefinition };
}

/** Binds `host:port`; a port that cannot be had is an error naming `CLAW_GRPC_PORT`. */
function bind(server: Server, host: string, port: number, credentials: ServerCredentials): Promise<number> {
  const address = host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) =>
    server.bindAsync(address, credentials, (e, bound) => {
      if (!e) return resolve(bound);
      const inUse = /EADDRINUSE|address already in use/i.test(e.message);
      reject(
        new GrpcStartError(
          `CLAW_GRPC_PORT: cannot listen on ${address}${inUse ? ": another process uses this port" : `: ${e.message}`} ` +
            "(set CLAW_GRPC_PORT to a free port, 0 for any, or off)",
          { cause: e },
        ),
      );
    }),
  );
}

/** Starts the server; rejects with {@link GrpcStartError} when it cannot. */
export async function startGrpcServer(o: GrpcServerOptions): Promise<GrpcServer> {
  const credentials = credentialsOf(o.tls);
  const { pkg, claw } = definitions();
  // channelz (grpc-js's per-call bookkeeping for a debugging service the node does not serve) off: it costs on every call
  const server = new Server({ "grpc.max_receive_message_length": o.maxPayload + 64 * 1024, "grpc.enable_channelz": 0 });
  const streams = new Set<() => void>();
  server.addService(claw, clawService({ ...o, access: o.access ? createAccess(o.access) : undefined, streams }));
  const status = (): ServingStatus => (o.ready() ? "SERVING" : "NOT_SERVING");
  let last = status();
  const health = new HealthImplementation({ "": last, [CLAW_SERVICE]: last });
  health.addToServer(server);
  new ReflectionService(pkg).addToServer(server);
  const setHealth = (s: ServingStatus) => {
    if (s === last) return;
    last = s;
    health.setStatus("", s);
    health.setStatus(CLAW_SERVICE, s);
  };
  // readiness is a function of the node's parts: read often, told to watchers when it changes
  const watch = setInterval(() => setHealth(status()), HEALTH_EVERY_MS);
  watch.unref();
  let port: number;
  try {
    port = await bind(server, o.host, o.port, credentials);
  } catch (e) {
    clearInterval(watch);
    server.forceShutdown();
    throw e;
  }
  return {
    port,
    async close(deadline = Date.now() + 5_000) {
      clearInterval(watch);
      setHealth("NOT_SERVING");
      for (const end of [...streams]) end();
      await new Promise<void>((resolve) => {
        const cut = setTimeout(
          () => {
            server.forceShutdown();
            resolve();
          },
          Math.max(0, deadline - Date.now()),
        );
        server.tryShutdown(() => {
          clearTimeout(cut);
          resolve();
        });
      });
    },
    kill() {
      clearInterval(watch);
      server.forceShutdown();
    },
  };
}
