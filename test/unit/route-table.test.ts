/**
 * The gateway dispatches through its route table (src/gateway/api-routes.ts):
 * every route has one handler, keyed `"<METHOD> <path>"`, and no handler
 * serves a path the table — and so the access check and `/openapi.json` —
 * does not know. A gateway whose handlers and table disagree does not start.
 */
import { describe, expect, it } from "vitest";
import type { Bus } from "../../src/bus/index.js";
import { ROUTES, ruleFor, unmatchedHandlers, type RouteHandler } from "../../src/gateway/api-routes.js";
import type { Inbound } from "../../src/gateway/inbound.js";
import { routeHandlers, type RouteHandlersOptions } from "../../src/gateway/route-handlers.js";

const unused = () => {
  throw new Error("not called: the handlers are only made here");
};
const inbound: Inbound = { checkAvailable: unused, accept: unused, converse: unused };
const options: RouteHandlersOptions = {
  bus: {} as Bus,
  nodeId: "n",
  maxPayload: 1024,
  readiness: () => ({ ready: true, reasons: [] }),
  metrics: { render: async () => "", contentType: "text/plain" },
  agents: { has: () => false, list: () => [], routes: () => [], get: () => undefined, put: unused },
  skills: { list: () => [], get: () => undefined, register: unused, invoke: unused },
  webhooksOut: { create: unused, list: () => [], remove: unused },
  channels: async () => [],
  webhook: async () => undefined,
  liveView: async () => false,
};
const key = (r: { method: string; path: string }) => `${r.method} ${r.path}`;
/** a request path for a route: each parameter a sample value */
const sample = (path: string) => path.replace(/\{(\w+)\*?\}/g, (_m, name: string) => `${name}-1`);

describe("the gateway's route table", () => {
  it("has a handler for every route, and no handler without a route", () => {
    const handlers = routeHandlers(options, inbound);
    expect(Object.keys(handlers).sort()).toEqual(ROUTES.map(key).sort());
    expect(unmatchedHandlers(handlers)).toEqual({ missing: [], extra: [] });
  });

  it("tells a handler map that lacks a route or serves one the table does not have", () => {
    const handlers: Record<string, RouteHandler> = { ...routeHandlers(options, inbound) };
    delete handlers["GET /v1/agents/{id}"];
    handlers["GET /v1/secret"] = async () => {};
    expect(unmatchedHandlers(handlers)).toEqual({ missing: ["GET /v1/agents/{id}"], extra: ["GET /v1/secret"] });
  });

  it("looks every route up by its method and a path of its shape, HEAD as GET, with its parameters decoded", () => {
    for (const r of ROUTES) {
      const found = ruleFor(r.method, sample(r.path));
      expect(found && "key" in found ? found.key : found, key(r)).toBe(key(r));
      if (r.method === "GET") expect(ruleFor("HEAD", sample(r.path)), key(r)).toMatchObject({ key: key(r) });
    }
    expect(ruleFor("GET", "/v1/agents/a%2Fb")).toMatchObject({ key: "GET /v1/agents/{id}", params: { id: "a/b" } });
    expect(ruleFor("GET", "/ui/assets/app.js")).toMatchObject({ key: "GET /ui/{rest*}", params: { rest: "assets/app.js" } });
  });

  it("answers a path of the table with the wrong method 405 (with the methods it takes), and any other path 404", () => {
    expect(ruleFor("PUT", "/v1/agents")).toEqual({ methods: ["GET", "POST"] });
    expect(ruleFor("GET", "/v1/messages")).toEqual({ methods: ["POST"] });
    expect(ruleFor("GET", "/v1/nothing")).toBeUndefined();
    // a malformed escape is no route (never an exception)
    expect(ruleFor("GET", "/v1/agents/%E0%A4%A")).toBeUndefined();
  });
});
