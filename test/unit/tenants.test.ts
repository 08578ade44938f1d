/**
 * Tenants without I/O: a tenant's agent is stored as `<tenant>/<id>` (an
 * operator's keeps its id), answers only its own HTTP account (its bindings
 * never route the cluster's channels to it), and a message's tenant is read
 * from its subject; what a credential sees of agents; the usage day maths.
 */
import { describe, expect, it } from "vitest";
import { AgentSpecSchema, qualifyAgent, resolveAgent, tenantOfSubject } from "../../src/actors/index.js";
import { completeInbound, inboundSubject, partitionedInboundSubject, sessionSubject } from "../../src/bus/index.js";
import { agentsSeenBy, TENANT_ROUTES } from "../../src/gateway/tenant-scope.js";
import { ROUTES } from "../../src/gateway/api-routes.js";
import { dayOf, secondsToNextDay } from "../../src/tenants/index.js";

const agent = (a: Record<string, unknown>) => qualifyAgent(AgentSpecSchema.parse(a));
const message = (channel: string, account: string, metadata: Record<string, unknown> = {}) =>
  completeInbound({ text: "hi", sender: { id: "u" }, metadata }, { id: "m1", ts: 0, channel, account, chat: "c" });

describe("tenants' agents", () => {
  it("are stored as <tenant>/<id>, the operator's keep their id, and an id naming another tenant is refused", () => {
    expect(agent({ id: "support" }).id).toBe("support");
    expect(agent({ id: "support", tenant: "acme" })).toMatchObject({ id: "acme/support", tenant: "acme" });
    expect(agent({ id: "acme/support" })).toMatchObject({ id: "acme/support", tenant: "acme" });
    expect(() => agent({ id: "beta/support", tenant: "acme" })).toThrow(/within the tenant beta/);
    expect(() => AgentSpecSchema.parse({ id: "a/b/c" })).toThrow();
    expect(() => AgentSpecSchema.parse({ id: "support", tenant: "Acme" })).toThrow();
  });

  it("answer only their own HTTP account: a catch-all binding of a tenant's agent takes none of the cluster's channels", () => {
    const agents = [agent({ id: "support", tenant: "acme" }), agent({ id: "echo", bindings: [{ channel: "telegram" }] })];
    expect(resolveAgent(agents, message("slack", "x"))).toMatchObject({ code: "no_agent" });
    expect(resolveAgent(agents, message("telegram", "x")).agent?.id).toBe("echo");
    expect(resolveAgent(agents, message("http", "acme/support", { agent: "acme/support" })).agent?.id).toBe("acme/support");
    // named from a channel that does not reach it: refused
    expect(resolveAgent(agents, message("telegram", "x", { agent: "acme/support" }))).toMatchObject({ code: "no_agent" });
  });

  it("reads a message's tenant from its subject", () => {
    expect(tenantOfSubject(inboundSubject({ channel: "http", account: "acme/support", chat: "c" }))).toBe("acme");
    expect(tenantOfSubject(partitionedInboundSubject(3, { channel: "http", account: "acme/support", chat: "c" }))).toBe("acme");
    expect(tenantOfSubject(sessionSubject(1, "beta/support", "s"))).toBe("beta");
    expect(tenantOfSubject(sessionSubject(1, "echo", "s"))).toBeUndefined();
    // a tenant's channel account is <tenant>/<name>; the operator's has no tenant part
    expect(tenantOfSubject(inboundSubject({ channel: "telegram", account: "acme/bot", chat: "c" }))).toBe("acme");
    expect(tenantOfSubject(inboundSubject({ channel: "telegram", account: "bot", chat: "c" }))).toBeUndefined();
    expect(tenantOfSubject("claw.skill.x.invoke")).toBeUndefined();
  });
});

describe("what a credential sees of the agents", () => {
  const entries = [{ spec: { id: "echo" } }, { spec: { id: "acme/support", tenant: "acme" } }, { spec: { id: "beta/support", tenant: "beta" } }];
  const put: unknown[] = [];
  const directory = {
    list: () => entries,
    routes: () => entries.map((e) => ({ agent: e.spec.id, match: "any" })),
    get: (id: string) => entries.find((e) => e.spec.id === id),
    put: async (input: unknown) => (put.push(input), { agent: { spec: { ...(input as object), id: "acme/new" } }, created: true }),
  };

  it("the operator sees all by stored id; a tenant its own by the names it gave them, and nothing of another's", async () => {
    expect(agentsSeenBy(directory, { id: "op", scopes: ["*"] }).list()).toBe(entries);
    const acme = agentsSeenBy(directory, { id: "key:a", scopes: ["*"], tenant: "acme" });
    expect(acme.list()).toEqual([{ spec: { id: "support", tenant: "acme" } }]);
    expect(acme.routes()).toEqual([{ agent: "support", match: "any" }]);
    expect(acme.get("support")).toEqual({ spec: { id: "support", tenant: "acme" } });
    expect(acme.get("echo")).toBeUndefined();
    expect(acme.get("beta/support")).toBeUndefined();
    await expect(acme.put({ id: "new", tenant: "beta" })).rejects.toMatchObject({ code: "invalid_agent", field: "tenant" });
    await expect(acme.put({ id: "beta/x" })).rejects.toMatchObject({ code: "invalid_agent", field: "id" });
    expect((await acme.put({ id: "new" })).agent).toEqual({ spec: { id: "new", tenant: "acme" } });
    expect(put).toEqual([{ id: "new", tenant: "acme" }]);
  });

  it("lets a tenant call only routes of the table (a renamed route would leave it out silently)", () => {
    const keys = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
    expect([...TENANT_ROUTES].filter((k) => !keys.has(k))).toEqual([]);
  });
});

describe("usage days", () => {
  it("are UTC days, and the quota's Retry-After runs to the next midnight", () => {
    const t = Date.parse("2026-12-03T23:59:30Z");
    expect(dayOf(t)).toBe("2026-12-03");
    expect(secondsToNextDay(t)).toBe(30);
    expect(secondsToNextDay(Date.parse("2026-12-03T00:00:00Z"))).toBe(86_400);
  });

  it("are right at each midnight and going back and forth, although the day last asked is kept", () => {
    const midnight = Date.parse("2026-12-04T00:00:00Z");
    const asked = [midnight - 1, midnight, midnight - 1, midnight + 86_399_999, midnight + 86_400_000, Date.parse("2025-01-01T12:00:00Z"), midnight];
    expect(asked.map(dayOf)).toEqual(["2026-12-03", "2026-12-04", "2026-12-03", "2026-12-04", "2026-12-05", "2025-01-01", "2026-12-04"]);
    expect(() => dayOf(Number.NaN)).toThrow(RangeError);
  });
});
