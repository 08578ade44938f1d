import { describe, expect, it } from "vitest";
import { fetchAllowlist, FetchAllowEntryError, parseFetchAllowEntry } from "../../src/skills/index.js";

describe("http.fetch's allowlist", () => {
  it("parses hosts, wildcards, ports and IPv6 literals", () => {
    expect(parseFetchAllowEntry("API.Example.com")).toEqual({ host: "api.example.com", wildcard: false });
    expect(parseFetchAllowEntry("*.example.org")).toEqual({ host: "example.org", wildcard: true });
    expect(parseFetchAllowEntry("*.example.org:8443")).toEqual({ host: "example.org", wildcard: true, port: 8443 });
    expect(parseFetchAllowEntry("10.0.0.5:8080")).toEqual({ host: "10.0.0.5", wildcard: false, port: 8080 });
    expect(parseFetchAllowEntry("internal.svc:443")).toEqual({ host: "internal.svc", wildcard: false, port: 443 });
    expect(parseFetchAllowEntry("[FD00::0:5]:8080")).toEqual({ host: "fd00::5", wildcard: false, port: 8080 });
    expect(parseFetchAllowEntry("fd00::5")).toEqual({ host: "fd00::5", wildcard: false });
    expect(parseFetchAllowEntry("127.1")).toEqual({ host: "127.0.0.1", wildcard: false });
  });

  it.each([
    "https://api.example.com",
    "api.example.com/path",
    "user@host",
    "host:0",
    "host:65536",
    "host:",
    "*",
    "*.10.0.0.5",
    "a:b:c",
    "ex ample.com",
    "[fd00::5",
  ])("refuses %j", (entry) => {
    expect(() => parseFetchAllowEntry(entry)).toThrow(FetchAllowEntryError);
  });

  it("matches hosts exactly, by subdomain wildcard, and by port", () => {
    const allow = fetchAllowlist(["api.example.com", "*.wiki.org", "internal:8080"]);
    const allowed = (u: string) => allow.admits(new URL(u)).allowed;
    expect(allowed("https://api.example.com/x")).toBe(true);
    expect(allowed("https://evil-api.example.com/x")).toBe(false);
    expect(allowed("https://en.wiki.org/")).toBe(true);
    expect(allowed("https://wiki.org.evil.com/")).toBe(false);
    expect(allowed("http://internal:8080/")).toBe(true);
    expect(allowed("http://internal:9090/")).toBe(false);
  });

  it("admits by host and port; only a host named exactly may be private", () => {
    const allow = fetchAllowlist(["api.example.com", "*.example.org", "10.0.0.5:8080", "internal.svc:443", "[fd00::5]:8080"]);
    const admits = (u: string) => allow.admits(new URL(u));
    expect(admits("https://api.example.com/x")).toEqual({ allowed: true, privateAllowed: true });
    expect(admits("http://api.example.com:9999/")).toEqual({ allowed: true, privateAllowed: true });
    expect(admits("https://a.b.example.org/")).toEqual({ allowed: true, privateAllowed: false });
    expect(admits("https://example.org/")).toEqual({ allowed: false });
    expect(admits("https://evilexample.org/")).toEqual({ allowed: false });
    expect(admits("http://10.0.0.5:8080/")).toEqual({ allowed: true, privateAllowed: true });
    expect(admits("http://10.0.0.5/")).toEqual({ allowed: false });
    expect(admits("http://10.0.0.5:22/")).toEqual({ allowed: false });
    expect(admits("https://internal.svc/")).toEqual({ allowed: true, privateAllowed: true });
    expect(admits("http://internal.svc/")).toEqual({ allowed: false });
    expect(admits("http://[fd00::5]:8080/")).toEqual({ allowed: true, privateAllowed: true });
    expect(admits("http://[fd00::5]/")).toEqual({ allowed: false });
  });
});
