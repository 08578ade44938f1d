/**
 * The settings of requests Claw makes on someone's behalf, as read from the
 * environment: `CLAW_HTTP_FETCH_ALLOW` (checked entry by entry at start),
 * `CLAW_DNS_SERVERS` and `CLAW_WEBHOOK_ALLOW_PRIVATE`.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

describe("egress settings", () => {
  it("keeps the allowlist's entries, ports and IPv6 literals among them", () => {
    expect(loadConfig({ CLAW_HTTP_FETCH_ALLOW: " api.example.com, *.example.org:8443,10.0.0.5:8080,[fd00::5]:80 ," }).httpFetchAllow).toEqual([
      "api.example.com",
      "*.example.org:8443",
      "10.0.0.5:8080",
      "[fd00::5]:80",
    ]);
    expect(loadConfig({}).httpFetchAllow).toEqual([]);
  });

  it("refuses an allowlist entry that is not a host, naming the variable and the entry", () => {
    expect(() => loadConfig({ CLAW_HTTP_FETCH_ALLOW: "api.example.com,https://x.example.com" })).toThrow(ConfigError);
    expect(() => loadConfig({ CLAW_HTTP_FETCH_ALLOW: "api.example.com,https://x.example.com" })).toThrow(/CLAW_HTTP_FETCH_ALLOW: "https:\/\/x.example.com"/);
    expect(() => loadConfig({ CLAW_HTTP_FETCH_ALLOW: "10.0.0.5:99999" })).toThrow(/CLAW_HTTP_FETCH_ALLOW/);
  });

  it("takes DNS servers as ip, ip:port or [ipv6]:port, and refuses names", () => {
    expect(loadConfig({ CLAW_DNS_SERVERS: "10.0.0.2, 127.0.0.1:5353,[fd00::53]:53" }).dnsServers).toEqual(["10.0.0.2", "127.0.0.1:5353", "[fd00::53]:53"]);
    expect(loadConfig({}).dnsServers).toEqual([]);
    expect(() => loadConfig({ CLAW_DNS_SERVERS: "dns.example.com" })).toThrow(/CLAW_DNS_SERVERS: "dns.example.com"/);
  });

  it("delivers webhooks to private addresses only when opted in", () => {
    expect(loadConfig({}).webhookAllowPrivate).toBe(false);
    expect(loadConfig({ CLAW_WEBHOOK_ALLOW_PRIVATE: "1" }).webhookAllowPrivate).toBe(true);
    expect(() => loadConfig({ CLAW_WEBHOOK_ALLOW_PRIVATE: "yes" })).toThrow(/CLAW_WEBHOOK_ALLOW_PRIVATE/);
  });
});
