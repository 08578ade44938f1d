/**
 * The operators' routes: `GET /healthz` (the process is sound), `GET /readyz`
 * (the node serves now, or 503 with why), `GET /openapi.json` (the route
 * table as OpenAPI 3.1) and `GET /metrics` (Prometheus).
 */
import type { Bus } from "../bus/index.js";
import type { RouteHandlers } from "./api-routes.js";
import { UNAVAILABLE_RETRY_AFTER_S } from "./errors.js";
import { sendJson } from "./http-io.js";
import { openApiDocument } from "./openapi.js";

/** What the routes read. */
export interface OperationsRoutesOptions {
  bus: Bus;
  nodeId: string;
  /** whether the node serves traffic now, and why not */
  readiness: () => { ready: boolean; reasons: string[] };
  /** Prometheus exposition */
  metrics: { render(): Promise<string>; contentType: string };
}

/** The handlers of the operators' routes. */
export function operationsRoutes(o: OperationsRoutesOptions): Pick<RouteHandlers, "GET /healthz" | "GET /readyz" | "GET /openapi.json" | "GET /metrics"> {
  let document: unknown;
  return {
    "GET /healthz": async (_req, res) => sendJson(res, 200, { status: "ok", node: o.nodeId }),
    "GET /readyz": async (_req, res) => {
      const r = o.readiness();
      const reasons = o.bus.nc.isClosed() ? [...r.reasons, "nats: connection closed"] : r.reasons;
      if (reasons.length === 0) return sendJson(res, 200, { status: "ready", node: o.nodeId });
      sendJson(res, 503, { status: "not ready", node: o.nodeId, reason: reasons.join("; "), reasons }, { "retry-after": String(UNAVAILABLE_RETRY_AFTER_S) });
    },
    "GET /openapi.json": async (_req, res) => sendJson(res, 200, (document ??= openApiDocument())),
    "GET /metrics": async (_req, res) => {
      const body = await o.metrics.render();
      res.writeHead(200, { "content-type": o.metrics.contentType });
      res.end(body);
    },
  };
}
