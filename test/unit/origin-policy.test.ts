/**
 * Where a request may come from (src/gateway/origin-policy.ts): the Host
 * names an open gateway answers, the Origins it takes, and the CORS answers
 * of a listed origin — decided from headers alone.
 */
import { describe, expect, it } from "vitest";
import { createOriginPolicy, isLoopbackName, parseHost } from "../../src/gateway/origin-policy.js";

const open = createOriginPolicy({ checkHost: true, hosts: [], origins: [] });

describe("Host", () => {
  it("takes every loopback name and address, with any port", () => {
    for (const host of [
      "localhost",
      "localhost:8080",
      "LOCALHOST:1",
      "chat.localhost:3000",
      "a.b.localhost",
      "127.0.0.1",
      "127.0.0.1:8080",
      "127.255.0.9:1",
      "[::1]",
      "[::1]:8080",
      "[0:0:0:0:0:0:0:1]:80",
      "localhost.:8080",
    ]) {
      expect(open.check({ host }), host).toBeUndefined();
    }
  });

  it("refuses any other name, and anything shaped to fool a URL parser", () => {
    for (const host of [
      "evil.example",
      "evil.example:8080",
      "127.0.0.1.evil.example",
      "localhost.evil.example",
      "localhostx",
      "10.0.0.1",
      "[::2]",
      "user@127.0.0.1",
      "127.0.0.1/x",
      "127.0.0.1#x",
      "127.0.0.1\\x",
      "",
      " ",
      undefined,
    ]) {
      expect(open.check({ host }), String(host)).toMatchObject({ code: "host_refused" });
    }
  });

  it("takes listed names (any port, one port, subdomains) and is not checked when told so", () => {
    const listed = createOriginPolicy({ checkHost: true, hosts: ["claw.example.com", "api.example.com:8443", "*.pods.example"], origins: [] });
    for (const host of ["claw.example.com", "claw.example.com:80", "api.example.com:8443", "a.pods.example:1", "localhost"])
      expect(listed.check({ host }), host).toBeUndefined();
    for (const host of ["api.example.com", "api.example.com:443", "pods.example", "claw.example.com.evil"]) expect(listed.check({ host }), host).toBeDefined();
    expect(createOriginPolicy({ checkHost: false, hosts: [], origins: [] }).check({ host: "10.1.2.3:8080" })).toBeUndefined();
  });

  it("parses as a browser writes it", () => {
    expect(parseHost("LocalHost:8080")).toEqual({ name: "localhost", port: "8080", host: "localhost:8080" });
    expect(parseHost("[::1]")).toEqual({ name: "[::1]", port: "", host: "[::1]" });
    expect(isLoopbackName("127.0.0.1")).toBe(true);
    expect(isLoopbackName("128.0.0.1")).toBe(false);
  });
});

describe("Origin", () => {
  it("takes none (not a browser), the gateway's own, whatever the scheme behind a proxy", () => {
    expect(open.check({ host: "127.0.0.1:8080" })).toBeUndefined();
    expect(open.check({ host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080" })).toBeUndefined();
    expect(open.check({ host: "localhost", origin: "https://localhost" })).toBeUndefined();
    expect(open.check({ host: "localhost:80", origin: "http://localhost" })).toBeUndefined();
  });

  it("refuses another port, another name, null and garbage", () => {
    for (const origin of [
      "http://127.0.0.1:8081",
      "http://localhost:8080",
      "http://evil.example",
      "null",
      "file://",
      "chrome-extension://abc",
      "not a url",
      "",
    ]) {
      expect(open.check({ host: "127.0.0.1:8080", origin }), origin).toMatchObject({ code: "origin_refused" });
    }
  });

  it("takes a listed origin, and answers it as CORS expects (nobody else)", () => {
    const p = createOriginPolicy({ checkHost: false, hosts: [], origins: ["https://app.example.com"] });
    expect(p.check({ host: "claw:8080", origin: "https://app.example.com" })).toBeUndefined();
    expect(p.check({ host: "claw:8080", origin: "http://app.example.com" })).toMatchObject({ code: "origin_refused" });
    expect(p.corsHeaders({ origin: "https://app.example.com" })).toEqual({ "access-control-allow-origin": "https://app.example.com", vary: "Origin" });
    expect(p.corsHeaders({ origin: "https://app.example.com", "access-control-request-method": "POST" })).toMatchObject({
      "access-control-allow-methods": expect.stringContaining("POST"),
      "access-control-allow-headers": expect.stringContaining("authorization"),
    });
    expect(
      p.corsHeaders({
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, x-stainless-os",
      }),
    ).toMatchObject({ "access-control-allow-headers": "content-type, x-stainless-os" });
    expect(p.corsHeaders({ origin: "https://other.example.com", "access-control-request-method": "POST" })).toEqual({});
    expect(() => createOriginPolicy({ checkHost: false, hosts: [], origins: ["app.example.com"] })).toThrow(TypeError);
  });
});
