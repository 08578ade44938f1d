/**
 * The node's configuration as read from the environment: here, where the
 * container engine of `container` skills is found (`CLAW_DOCKER_HOST`).
 */
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

describe("the gateway's origins, hosts and connections", () => {
  it("reads CLAW_HTTP_ORIGINS, CLAW_HTTP_HOSTS and CLAW_HTTP_MAX_CONNECTIONS", () => {
    const c = loadConfig({ CLAW_HTTP_ORIGINS: "https://app.example.com, http://localhost:3000/", CLAW_HTTP_HOSTS: "claw.example.com,*.pods.local", CLAW_HTTP_MAX_CONNECTIONS: "500" });
    expect(c.httpOrigins).toEqual(["https://app.example.com", "http://localhost:3000"]);
    expect(c.httpHosts).toEqual(["claw.example.com", "*.pods.local"]);
    expect(c.httpMaxConnections).toBe(500);
    expect(loadConfig({}).httpMaxConnections).toBeUndefined();
  });

  it("refuses an origin that is not one, naming the variable", () => {
    for (const bad of ["app.example.com", "https://app.example.com/path", "ftp://x", "https://u:p@x"]) expect(() => loadConfig({ CLAW_HTTP_ORIGINS: bad }), bad).toThrow(/^CLAW_HTTP_ORIGINS: /);
    expect(() => loadConfig({ CLAW_HTTP_MAX_CONNECTIONS: "0" })).toThrow(ConfigError);
  });

  it("defaults the connection limit to half the open-file limit, at most 10,000", () => {
    expect(defaultMaxConnections(1024)).toBe(512);
    expect(defaultMaxConnections(1_048_576)).toBe(10_000);
    expect(defaultMaxConnections(undefined)).toBe(4_096);
    expect(openFileLimit(() => "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            20000                20000                files     \n")).toBe(20_000);
    expect(openFileLimit(() => "garbage")).toBeUndefined();
  });
});
