/**
 * The node's configuration as read from the environment: here, where the
 * container engine of `container` skills is found (`CLAW_DOCKER_HOST`).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configFile, configRefusal } from "../support/config-refusal.js";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { dockerEndpoint } from "../../src/skills/index.js";
import { defaultMaxConnections, openFileLimit } from "../../src/gateway/connection-limit.js";

describe("CLAW_DOCKER_HOST", () => {
  it("defaults to DOCKER_HOST, else to Docker's own socket", () => {
    expect(loadConfig({}).dockerHost).toBe("unix:///var/run/docker.sock");
    expect(loadConfig({ DOCKER_HOST: "tcp://10.0.0.5:2375" }).dockerHost).toBe("tcp://10.0.0.5:2375");
    expect(loadConfig({ DOCKER_HOST: "unix:///a.sock", CLAW_DOCKER_HOST: "unix:///run/podman/podman.sock" }).dockerHost).toBe("unix:///run/podman/podman.sock");
  });

  it("refuses what is not a unix socket or a TCP address, naming the variable", () => {
    for (const bad of ["/var/run/docker.sock", "unix://relative.sock", "tcp://host", "tcp://host:99999", "ssh://me@host", "http://host:2375"]) {
      expect(() => loadConfig({ CLAW_DOCKER_HOST: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ CLAW_DOCKER_HOST: bad }), bad).toThrow(/^CLAW_DOCKER_HOST: a Docker API endpoint/);
    }
  });

  it("leaves a DOCKER_HOST it cannot use to the driver's check (the node still starts)", () => {
    expect(loadConfig({ DOCKER_HOST: "ssh://me@host" }).dockerHost).toBe("ssh://me@host");
    expect(dockerEndpoint("ssh://me@host")).toBeUndefined();
  });

  it("is parsed for dockerode", () => {
    expect(dockerEndpoint("unix:///run/podman/podman.sock")).toEqual({ socketPath: "/run/podman/podman.sock" });
    expect(dockerEndpoint("tcp://127.0.0.1:2375")).toEqual({ protocol: "http", host: "127.0.0.1", port: 2375 });
    expect(dockerEndpoint("tcp://[::1]:2375/")).toEqual({ protocol: "http", host: "::1", port: 2375 });
  });
});

describe("the gRPC server's settings", () => {
  it("listens on 50051 by default, on the port given (0: a free one), or not at all with off", () => {
    expect(loadConfig({}).grpc).toEqual({ port: 50051 });
    expect(loadConfig({ CLAW_GRPC_PORT: "0" }).grpc).toEqual({ port: 0 });
    expect(loadConfig({ CLAW_GRPC_PORT: "50052" }).grpc).toEqual({ port: 50052 });
    expect(loadConfig({ CLAW_GRPC_PORT: "off" }).grpc).toBeUndefined();
  });

  it("refuses a port that is not one, naming the variable", () => {
    for (const bad of ["no", "65536", "-1", "1.5", "OFF "]) {
      expect(() => loadConfig({ CLAW_GRPC_PORT: bad }), bad).toThrow(/^CLAW_GRPC_PORT: /);
    }
  });

  it("takes TLS as a certificate and its key, and a CA for clients' certificates only with them", () => {
    expect(loadConfig({ CLAW_GRPC_TLS_CERT: "/c.pem", CLAW_GRPC_TLS_KEY: "/k.pem" }).grpc).toEqual({ port: 50051, tls: { cert: "/c.pem", key: "/k.pem" } });
    expect(loadConfig({ CLAW_GRPC_TLS_CERT: "/c.pem", CLAW_GRPC_TLS_KEY: "/k.pem", CLAW_GRPC_TLS_CA: "/ca.pem" }).grpc?.tls).toEqual({
      cert: "/c.pem",
      key: "/k.pem",
      ca: "/ca.pem",
    });
    expect(() => loadConfig({ CLAW_GRPC_TLS_CERT: "/c.pem" })).toThrow(/CLAW_GRPC_TLS_CERT and CLAW_GRPC_TLS_KEY go together/);
    expect(() => loadConfig({ CLAW_GRPC_TLS_KEY: "/k.pem" })).toThrow(ConfigError);
    expect(() => loadConfig({ CLAW_GRPC_TLS_CA: "/ca.pem" })).toThrow(/^CLAW_GRPC_TLS_CA asks clients for certificates/);
  });
});

describe("the gateway's origins, hosts and connections", () => {
  it("reads CLAW_HTTP_ORIGINS, CLAW_HTTP_HOSTS and CLAW_HTTP_MAX_CONNECTIONS", () => {
    const c = loadConfig({
      CLAW_HTTP_ORIGINS: "https://app.example.com, http://localhost:3000/",
      CLAW_HTTP_HOSTS: "claw.example.com,*.pods.local",
      CLAW_HTTP_MAX_CONNECTIONS: "500",
    });
    expect(c.httpOrigins).toEqual(["https://app.example.com", "http://localhost:3000"]);
    expect(c.httpHosts).toEqual(["claw.example.com", "*.pods.local"]);
    expect(c.httpMaxConnections).toBe(500);
    expect(loadConfig({}).httpMaxConnections).toBeUndefined();
  });

  it("reads CLAW_PUBLIC_URL (without its trailing slash; its host one the gateway answers for) and refuses one that is no http(s) URL", () => {
    const c = loadConfig({ CLAW_PUBLIC_URL: "https://claw.example.org:8443/", CLAW_HTTP_HOSTS: "a.example" });
    expect(c.publicUrl).toBe("https://claw.example.org:8443");
    expect(c.httpHosts).toEqual(["a.example", "claw.example.org:8443"]);
    expect(loadConfig({}).publicUrl).toBeUndefined();
    expect(loadConfig({}).mediaMaxAgeDays).toBe(7);
    for (const bad of ["claw.example.org", "ftp://claw.example.org", "https://claw.example.org/?x=1"])
      expect(() => loadConfig({ CLAW_PUBLIC_URL: bad }), bad).toThrow(/CLAW_PUBLIC_URL/);
  });

  it("refuses an origin that is not one, naming the variable", () => {
    for (const bad of ["app.example.com", "https://app.example.com/path", "ftp://x", "https://u:p@x"])
      expect(() => loadConfig({ CLAW_HTTP_ORIGINS: bad }), bad).toThrow(/^CLAW_HTTP_ORIGINS: /);
    expect(() => loadConfig({ CLAW_HTTP_MAX_CONNECTIONS: "0" })).toThrow(ConfigError);
  });

  it("defaults the connection limit to half the open-file limit, at most 10,000", () => {
    expect(defaultMaxConnections(1024)).toBe(512);
    expect(defaultMaxConnections(1_048_576)).toBe(10_000);
    expect(defaultMaxConnections(undefined)).toBe(4_096);
    expect(
      openFileLimit(
        () =>
          "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            20000                20000       " +
          "         files     \n",
      ),
    ).toBe(20_000);
    expect(openFileLimit(() => "garbage")).toBeUndefined();
  });
});

describe("CLAW_CONFIG's unknown fields (issue 26 item 4)", () => {
  const file = configFile;
  const refusal = configRefusal;

  it("refuses a field an agent, a binding, a provider or a channel account does not have, naming it", () => {
    expect(refusal({ agents: [{ id: "a", approvee: ["bash"] }] })).toBe("agents.0.approvee: unknown field: did you mean approve?");
    expect(refusal({ agents: [{ id: "a", histroyLimit: 4 }] })).toBe("agents.0.histroyLimit: unknown field: did you mean historyLimit?");
    expect(refusal({ agents: [{ id: "a", bindings: [{ chanel: "web" }] }] })).toBe("agents.0.bindings.0.chanel: unknown field: did you mean channel?");
    expect(refusal({ agents: [{ id: "a" }], providers: { p: { baseURL: "http://127.0.0.1:1/v1", model: "m", apikey: "k" } } })).toBe(
      "providers.p.apikey: unknown field: did you mean apiKey?",
    );
    expect(refusal({ agents: [{ id: "a" }], channels: [{ type: "mqtt", account: "a", url: "mqtt://127.0.0.1:1", subscribe: ["x/#"], qoss: 1 }] })).toMatch(
      /^channels\[0\] \(mqtt\): qoss: unknown field/,
    );
  });

  it("refuses an unknown field of a tenant or its quotas, naming it, and an agent of a tenant not listed", () => {
    const tenants = (t: unknown) => ({ agents: [{ id: "a" }], tenants: [t] });
    expect(refusal(tenants({ id: "acme", quota: {} }))).toBe("tenants.0.quota: unknown field: did you mean quotas?");
    expect(refusal(tenants({ id: "acme", quotas: { messagesPerMinutes: 5 } }))).toBe(
      "tenants.0.quotas.messagesPerMinutes: unknown field: did you mean messagesPerMinute?",
    );
    expect(refusal(tenants({ id: "acme", quotas: { tokensPerDay: 0 } }))).toMatch(/^tenants\.0\.quotas\.tokensPerDay: /);
    expect(refusal(tenants({ id: "Acme Inc" }))).toMatch(/^tenants\.0\.id: a tenant id/);
    expect(refusal({ agents: [{ id: "a" }], tenants: [{ id: "acme" }, { id: "acme" }] })).toBe("tenant id acme is defined twice");
    expect(refusal({ agents: [{ id: "a", tenant: "beta" }], tenants: [{ id: "acme" }] })).toBe("agent beta/a: tenant: no tenant beta in tenants[]");
    // two tenants may each have an agent support: stored as <tenant>/support, an operator's agent keeps its id
    const c = loadConfig({
      CLAW_CONFIG: file({
        tenants: [{ id: "acme" }, { id: "beta" }],
        agents: [{ id: "support" }, { id: "support", tenant: "acme" }, { id: "support", tenant: "beta" }],
      }),
    });
    expect(c.agents.map((a) => [a.id, a.tenant])).toEqual([
      ["support", undefined],
      ["acme/support", "acme"],
      ["beta/support", "beta"],
    ]);
    expect(c.tenants).toEqual([
      { id: "acme", quotas: {} },
      { id: "beta", quotas: {} },
    ]);
  });

  it("names an unknown top-level key (the message once had an empty path)", () => {
    expect(refusal({ agents: [{ id: "a" }], namespaces: [] })).toBe("namespaces: unknown field");
    expect(refusal({ agent: [{ id: "a" }] })).toBe("agent: unknown field: did you mean agents?");
  });
});
