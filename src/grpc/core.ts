/**
 * The gRPC server proper: grpc-js's `Server` with `claw.v1.Claw`
 * (claw-service.ts), the health service and reflection, serving the
 * connections server.ts accepted on `CLAW_GRPC_PORT`. server.ts imports this
 * module on the node's first gRPC connection, not at start: grpc-js,
 * proto-loader (with protobufjs), reflection and the health service are ~170
 * modules and ~12 MB of heap that a node no gRPC client calls never needs.
 * Nothing the node loads at start may import this module, or them, statically.
 */
import type { Socket } from "node:net";
import { Server, ServerCredentials, type ServiceDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from "grpc-health-check";
import { clawService, type ClawServiceOptions } from "./claw-service.js";
import { CLAW_PROTO, CLAW_SERVICE } from "./names.js";

/** How often the health service reads the node's readiness. */
const HEALTH_EVERY_MS = 250;

/** What {@link createGrpcCore} needs: the service's options, checked PEMs, readiness. */
export interface GrpcCoreOptions extends Omit<ClawServiceOptions, "streams"> {
  /** the server's certificate and key, and the CA that signs clients' certificates (mTLS), read and checked at start */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  maxPayload: number;
  /** whether the node serves now: the health service's SERVING */
  ready: () => boolean;
}

/** The loaded server: it takes connections and stops as {@link GrpcServer} says (server.ts). */
export interface GrpcCore {
  /** serves one accepted connection, paused until now (TLS is done here, on the raw socket) */
  inject(socket: Socket): void;
  /** NOT_SERVING, open `Replies` streams ended, calls in flight let finish until `deadline` (ms since the epoch), then cut */
  close(deadline: number): Promise<void>;
  /** cuts every call now */
  kill(): void;
}

/** The server's credentials: plain, TLS, or TLS asking clients for certificates signed by the CA. */
function credentialsOf(tls: GrpcCoreOptions["tls"]): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(tls.ca ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.ca !== undefined);
}

/** The service definitions: Claw's, and the health service's (for reflection). */
function definitions() {
  const pkg = loadSync([CLAW_PROTO, healthProtoPath], { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  return { pkg, claw: pkg[CLAW_SERVICE] as ServiceDefinition };
}

/** Builds the server, bound to no port: server.ts hands it its connections. */
export function createGrpcCore(o: GrpcCoreOptions): GrpcCore {
  const { pkg, claw } = definitions();
  // channelz (grpc-js's per-call bookkeeping for a debugging service the node does not serve) off: it costs on every call
  const server = new Server({ "grpc.max_receive_message_length": o.maxPayload + 64 * 1024, "grpc.enable_channelz": 0 });
  const streams = new Set<() => void>();
  server.addService(claw, clawService({ ...o, streams }));
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
  // one HTTP/2 server (TLS or not) for every connection, as bindAsync would have made for the port
  const injector = server.createConnectionInjector(credentialsOf(o.tls));
  return {
    inject(socket) {
      injector.injectConnection(socket);
      // accepted paused (server.ts): HTTP/2 (or TLS) has the socket now, and reads once it flows
      socket.resume();
    },
    async close(deadline) {
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
