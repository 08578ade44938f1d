/**
 * What a node's HTTP port answers while the node starts, before its gateway
 * serves: `GET /healthz` 200 (the process is sound: a node waiting for its
 * NATS cluster to form must not be killed), `GET /readyz` 503 with why
 * (`jetstream: forming`), everything else 503 with `Retry-After`. The
 * gateway takes the same port over once the node is up; in Kubernetes or
 * compose, where nodes and NATS start together, the probes see a starting
 * node as alive and not ready instead of a refused connection.
 */
import { createServer, type Server } from "node:http";
import { UNAVAILABLE_RETRY_AFTER_S } from "./errors.js";
import { sendJson } from "./http-io.js";

/** Options of {@link serveWhileStarting}. */
export interface StartupServerOptions {
  host: string;
  /** 0 picks a free port (the gateway then takes that one over) */
  port: number;
  nodeId: string;
  /** why the node is not ready yet, as `/readyz` says it (`node: starting`, `jetstream: forming`) */
  reasons: () => string[];
}

/** The start-up answerer; `close` frees the port for the gateway. */
export interface StartupServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on the node's HTTP address until closed. */
export async function serveWhileStarting(o: StartupServerOptions): Promise<StartupServer> {
  const retry = { "retry-after": String(UNAVAILABLE_RETRY_AFTER_S) };
  const server: Server = createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    // the body is not read: nothing here takes one
    if (path === "/healthz" && (req.method === "GET" || req.method === "HEAD")) return sendJson(res, 200, { status: "ok", node: o.nodeId });
    const reasons = o.reasons();
    if (path === "/readyz" && (req.method === "GET" || req.method === "HEAD"))
      return sendJson(res, 503, { status: "not ready", node: o.nodeId, reason: reasons.join("; "), reasons }, retry);
    sendJson(
      res,
      503,
      { error: { code: "starting", message: `the node is starting (${reasons.join("; ")}); try again shortly` } },
      { ...retry, connection: "close" },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : o.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
