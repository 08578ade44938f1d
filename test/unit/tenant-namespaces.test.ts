/**
 * Tenants' namespaces without I/O: a tenant's channel accounts
 * (`channels[].tenant`, named `<tenant>/<account>`) route only to that
 * tenant's agents, and a config naming a tenant it does not list is refused.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configFile, configRefusal } from "../support/config-refusal.js";
import { describe, expect, it } from "vitest";
import { AgentSpecSchema, qualifyAgent, resolveAgent } from "../../src/actors/index.js";
import { completeInbound } from "../../src/bus/index.js";
import { ConfigError, loadConfig } from "../../src/config.js";

const agent = (a: Record<string, unknown>) => qualifyAgent(AgentSpecSchema.parse(a));
const message = (channel: string, account: string, metadata: Record<string, unknown> = {}) =>
  completeInbound({ text: "hi", sender: { id: "u" }, metadata }, { id: "m1", ts: 0, channel, account, chat: "c" });

describe("a tenant's channel accounts", () => {
  it("answer their tenant's channel accounts by their bindings; the operator's agents and the default agent never do", () => {
    const agents = [
      agent({ id: "support", tenant: "acme", bindings: [{ channel: "mqtt", account: "iot" }] }),
      agent({ id: "catchall", tenant: "acme" }),
      agent({ id: "support", tenant: "beta" }),
      agent({ id: "echo" }),
    ];
    // acme's account iot is acme/iot: its agent bound to account iot answers it, by the name acme gave the account
    expect(resolveAgent(agents, message("mqtt", "acme/iot"), "echo").agent?.id).toBe("acme/support");
    expect(resolveAgent(agents, message("amqp", "acme/orders"), "echo").agent?.id).toBe("acme/catchall");
    expect(resolveAgent(agents, message("mqtt", "beta/iot"), "echo").agent?.id).toBe("beta/support");
    // the operator's account iot goes to the operator's catch-all, never to acme's binding of its own iot
    expect(resolveAgent(agents, message("mqtt", "iot"), "echo").agent?.id).toBe("echo");
    // a tenant with no agent bound: dead-lettered, not given to the operator's catch-all or default agent
    expect(resolveAgent(agents, message("mqtt", "gamma/iot"), "echo")).toMatchObject({ code: "no_agent" });
    expect(resolveAgent([agent({ id: "echo" })], message("mqtt", "acme/iot"), "echo")).toMatchObject({ code: "no_agent" });
    // naming an agent of another namespace from a tenant's account: as if it did not exist
    for (const named of ["echo", "beta/support"])
      expect(resolveAgent(agents, message("mqtt", "acme/iot", { agent: named }))).toMatchObject({ code: "no_agent", field: "metadata.agent" });
    expect(resolveAgent(agents, message("mqtt", "acme/iot", { agent: "acme/catchall" })).agent?.id).toBe("acme/catchall");
  });

  const file = configFile;
  const refusal = configRefusal;
  const mqtt = (more: Record<string, unknown>) => ({ type: "mqtt", account: "iot", url: "mqtt://127.0.0.1:1", subscribe: ["x/#"], ...more });

  it("are named <tenant>/<account> (two tenants may each have one of a name); an unknown tenant is refused, naming it", () => {
    const c = loadConfig({
      CLAW_CONFIG: file({
        tenants: [{ id: "acme" }, { id: "beta" }],
        agents: [{ id: "echo" }],
        channels: [mqtt({ tenant: "acme" }), mqtt({ tenant: "beta" }), mqtt({})],
      }),
    });
    expect(c.channels.map((ch) => [ch.account, ch.tenant, ch.options.account])).toEqual([
      ["acme/iot", "acme", "acme/iot"],
      ["beta/iot", "beta", "beta/iot"],
      ["iot", undefined, "iot"],
    ]);
    expect(refusal({ tenants: [{ id: "acme" }], agents: [{ id: "a" }], channels: [mqtt({ tenant: "globex" })] })).toBe(
      "channels[0].tenant: no tenant globex in tenants[]",
    );
    expect(refusal({ agents: [{ id: "a" }], channels: [mqtt({ tenant: "Not A Tenant" })] })).toMatch(
      /^channels\[0\]\.tenant: "Not A Tenant" is not a tenant id/,
    );
    // an operator's account cannot pass for a tenant's
    expect(refusal({ tenants: [{ id: "acme" }], agents: [{ id: "a" }], channels: [mqtt({ account: "acme/iot" })] })).toMatch(
      /^channels\[0\] \(mqtt\): account: no "\/" in an account's name/,
    );
    expect(refusal({ tenants: [{ id: "acme" }], agents: [{ id: "a" }], channels: [mqtt({ tenant: "acme" }), mqtt({ tenant: "acme" })] })).toBe(
      "channels[1]: the mqtt account acme/iot is configured twice",
    );
  });

  it("lets a tenant bring its own providers (keys only from the environment), which its agents name instead of the cluster's", () => {
    const cluster = { providers: { shared: { baseURL: "http://127.0.0.1:1/v1", model: "m", apiKey: "k" } } };
    const own = { baseURL: "http://127.0.0.1:2/v1", model: "acme-m", apiKeyEnv: "ACME_KEY" };
    const env = { ACME_KEY: "secret" };
    const load = (config: unknown, e: Record<string, string> = env) => loadConfig({ ...e, CLAW_CONFIG: file(config) });
    const c = load({
      ...cluster,
      tenants: [{ id: "acme", providers: { own } }],
      agents: [
        { id: "s", tenant: "acme", model: "own" },
        { id: "op", model: "shared" },
      ],
    });
    expect(c.tenants[0]!.providers!.own).toMatchObject({ baseURL: own.baseURL, apiKeyEnv: "ACME_KEY" });
    expect(c.agents.map((a) => [a.id, a.model])).toEqual([
      ["acme/s", "own"],
      ["op", "shared"],
    ]);
    const refused = (config: unknown, e?: Record<string, string>) => {
      try {
        load(config, e);
      } catch (err) {
        return (err as Error).message.replace(/^.*claw\.config\.json: /, "");
      }
      throw new Error("accepted");
    };
    // a tenant with its own providers does not use the cluster's; the operator's agents do not use a tenant's
    expect(refused({ ...cluster, tenants: [{ id: "acme", providers: { own } }], agents: [{ id: "s", tenant: "acme", model: "shared" }] })).toMatch(
      /^agent acme\/s: model: no provider named shared/,
    );
    expect(refused({ ...cluster, tenants: [{ id: "acme", providers: { own } }], agents: [{ id: "op", model: "own" }] })).toMatch(
      /^agent op: model: no provider named own/,
    );
    // the key stays out of the file and of KV, and its variable must be set
    expect(refused({ tenants: [{ id: "acme", providers: { own: { ...own, apiKey: "k" } } }], agents: [{ id: "a" }] })).toMatch(
      /^tenants\.0\.providers\.own\.apiKey: unknown field/,
    );
    expect(refused({ tenants: [{ id: "acme", providers: { own } }], agents: [{ id: "a" }] }, {})).toBe(
      "tenants.0.providers.own.apiKeyEnv: the environment variable ACME_KEY is not set",
    );
  });
});
