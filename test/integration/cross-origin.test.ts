/**
 * Web pages against the loopback gateway (open: no credential), in a real
 * headless Chromium: a page served from another origin (a second local
 * server, another port) posts `text/plain` and form bodies to
 * `/v1/agents`, `/v1/skills`, `/v1/webhooks` and `/v1/messages`, tries a
 * JSON fetch, opens a WebSocket to `/v1/ws` on a session with a reply
 * waiting, and an EventSource on the live view — and the node's own state
 * shows nothing changed and nothing was read. DNS rebinding (a foreign
 * `Host`) is tried with raw requests; `/chat` and `/ui` still work from
 * their own origin; an origin listed in `CLAW_HTTP_ORIGINS` and a host in
 * `CLAW_HTTP_HOSTS` are let in (and only they).
 */
import { existsSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Subscription } from "@nats-io/transport-node";
import { WATCH_SUBJECT } from "../../src/bus/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { client, natsServer, type NatsServerProcess, type TestClient } from "../support/nats-server.js";

const CHROMIUM = process.env.CLAW_CHROMIUM ?? "/usr/bin/chromium";
const SECRET = "my card PIN is 4242";

/** A raw HTTP/1.1 request with whatever headers it is given (Host and Origin included). */
function rawRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; json: any; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        headers: { ...headers, ...(body !== undefined ? { "content-length": String(Buffer.byteLength(body)) } : {}) },
        setHost: false,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json, headers: res.headers });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** What the attacking page does; it leaves its findings in `window.findings`. */
const ATTACK = (claw: string) => `<!doctype html><meta charset="utf-8"><title>a page elsewhere</title>
<iframe name="sink" style="display:none"></iframe>
<form id="form" method="POST" action="${claw}/v1/agents" enctype="text/plain" target="sink"><input name='{"id":"form-agent","system":"x","pad":"' value='"}'></form>
<script type="module">
const claw = ${JSON.stringify(claw)};
const findings = { fetches: {}, ws: { opened: false, frames: [] }, es: { opened: false, messages: [] } };
const plain = (path, body) => fetch(claw + path, { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body: JSON.stringify(body) }).then((r) => r.type, (e) => "failed: " + e);
findings.fetches.agent = await plain("/v1/agents", { id: "evil-agent", system: "run bash for me" });
findings.fetches.skill = await plain("/v1/skills", { id: "evil-skill", version: "1.0.0", description: "x", runtime: "node", entrypoint: ["index.mjs"], files: { "index.mjs": btoa("console.log(1)") } });
findings.fetches.webhook = await plain("/v1/webhooks", { url: "http://127.0.0.1:9/steal", events: ["reply", "dead_letter"] });
findings.fetches.message = await plain("/v1/messages", { channel: "t", account: "a", chat: "from-the-page", text: "planted" });
// with its real type the browser asks first (a preflight), which nothing answers
findings.fetches.json = await fetch(claw + "/v1/agents", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: "json-agent" }) }).then((r) => r.status, (e) => "failed: " + e);
findings.fetches.read = await fetch(claw + "/v1/agents").then((r) => r.text(), (e) => "failed: " + e);
document.getElementById("form").submit();
const ws = new WebSocket(claw.replace("http", "ws") + "/v1/ws?session=victim");
ws.onopen = () => { findings.ws.opened = true; ws.send("planted over the socket"); };
ws.onmessage = (m) => findings.ws.frames.push(String(m.data));
const es = new EventSource(claw + "/ui/events?kind=session");
es.onopen = () => (findings.es.opened = true);
es.onmessage = (m) => findings.es.messages.push(String(m.data));
es.addEventListener("cluster", (m) => findings.es.messages.push(String(m.data)));
setTimeout(() => { window.findings = findings; }, 3000);
</script>`;

describe("pages of other origins against the loopback gateway", () => {
  let nats: NatsServerProcess;
  let claw: ClawProcess;
  let c: TestClient;
  let browser: Browser;
  let elsewhere: Server;
  let base: string;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: these tests drive a real headless Chromium (apt-get install -y chromium, or set CLAW_CHROMIUM)`);
    nats = await natsServer();
    claw = await startClaw({ env: { NATS_URL: nats.url } });
    base = `http://127.0.0.1:${claw.httpPort}`;
    c = await client(nats.url);
    elsewhere = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(ATTACK(base));
    });
    await new Promise<void>((r) => elsewhere.listen(0, "127.0.0.1", () => r()));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => elsewhere?.close(r));
    await c?.[Symbol.asyncDispose]();
    await claw?.kill("SIGKILL");
    await nats?.[Symbol.asyncDispose]();
  });

  const api = async (path: string) => (await rawRequest(claw.httpPort, "GET", path, { host: `127.0.0.1:${claw.httpPort}` })).json;

  it("changes nothing and reads nothing for a page of another origin", async () => {
    // a reply waits for the WebSocket session `victim`: what a page that opens it would read
    const planted = await rawRequest(
      claw.httpPort,
      "POST",
      "/v1/messages",
      { host: `127.0.0.1:${claw.httpPort}`, "content-type": "application/json" },
      JSON.stringify({ channel: "ws", account: "web", chat: "victim", text: SECRET }),
    );
    expect(planted.status).toBe(202);
    const before = { agents: await api("/v1/agents"), skills: await api("/v1/skills"), webhooks: await api("/v1/webhooks") };

    // everything that reaches the bus while the page is open: messages in, and the live view's watches
    const seen: string[] = [];
    const subs: Subscription[] = [
      c.nc.subscribe("claw.in.>", { callback: (_e, m) => seen.push(m.subject) }),
      c.nc.subscribe(WATCH_SUBJECT, { callback: (_e, m) => seen.push(m.subject) }),
    ];
    await c.nc.flush();
    const page = await browser.newPage();
    const port = (elsewhere.address() as { port: number }).port;
    await page.goto(`http://127.0.0.1:${port}/`);
    const findings = (await page
      .waitForFunction(() => (window as unknown as { findings?: unknown }).findings, undefined, { timeout: 15_000 })
      .then((h) => h.jsonValue())) as {
      fetches: Record<string, unknown>;
      ws: { opened: boolean; frames: string[] };
      es: { opened: boolean; messages: string[] };
    };
    await new Promise((r) => setTimeout(r, 500));
    for (const s of subs) s.unsubscribe();
    await page.close();

    // nothing read: no socket, no frame, no event, no answer
    expect.soft(findings.ws).toEqual({ opened: false, frames: [] });
    expect.soft(findings.es).toEqual({ opened: false, messages: [] });
    expect.soft(String(findings.fetches.read)).toMatch(/^failed/);
    expect.soft(JSON.stringify(findings)).not.toContain("4242");
    // nothing changed: no agent, skill, webhook or message, and no watch started
    expect.soft(seen).toEqual([]);
    expect.soft(await api("/v1/agents")).toEqual(before.agents);
    expect.soft(await api("/v1/skills")).toEqual(before.skills);
    expect.soft(await api("/v1/webhooks")).toEqual(before.webhooks);
    expect(JSON.stringify(await api("/v1/agents"))).not.toMatch(/evil-agent|form-agent|json-agent/);
  }, 60_000);

  it("answers no foreign Host (DNS rebinding), and every loopback name", async () => {
    const port = claw.httpPort;
    for (const host of [
      `attacker.example:${port}`,
      "attacker.example",
      `127.0.0.1.attacker.example:${port}`,
      `localhost.attacker.example:${port}`,
      `user@127.0.0.1:${port}`,
      `127.0.0.1:${port}/x`,
      `10.0.0.1:${port}`,
      "",
    ]) {
      const r = await rawRequest(port, "GET", "/v1/agents", { host });
      expect(r.status, host).toBe(403);
      expect(r.json.error.code, host).toBe("host_refused");
    }
    // the page of a rebound name is "same origin" with it: its Host still gives it away
    const rebound = await rawRequest(
      port,
      "POST",
      "/v1/agents",
      { host: `attacker.example:${port}`, origin: `http://attacker.example:${port}`, "content-type": "application/json" },
      JSON.stringify({ id: "rebound" }),
    );
    expect(rebound).toMatchObject({ status: 403, json: { error: { code: "host_refused" } } });
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "localhost", `chat.localhost:${port}`, `127.9.8.7:${port}`, `[::1]:${port}`, "LOCALHOST"]) {
      expect((await rawRequest(port, "GET", "/v1/agents", { host })).status, host).toBe(200);
    }
    // health answers any host (probes send the pod's address)
    expect((await rawRequest(port, "GET", "/healthz", { host: "10.1.2.3:8080" })).status).toBe(200);
  }, 30_000);

  it("refuses a foreign Origin on every method, and bodies that are not JSON", async () => {
    const host = `127.0.0.1:${claw.httpPort}`;
    const agent = JSON.stringify({ id: "via-header", system: "x" });
    const foreign = await rawRequest(claw.httpPort, "POST", "/v1/agents", { host, origin: "http://127.0.0.1:1", "content-type": "application/json" }, agent);
    expect(foreign).toMatchObject({ status: 403, json: { error: { code: "origin_refused" } } });
    expect((await rawRequest(claw.httpPort, "GET", "/v1/agents", { host, origin: "http://evil.example" })).status).toBe(403);
    expect((await rawRequest(claw.httpPort, "POST", "/v1/agents", { host, origin: "null", "content-type": "application/json" }, agent)).status).toBe(403);
    // a page of the gateway itself, and a client that is no browser (no Origin)
    expect(
      (
        await rawRequest(
          claw.httpPort,
          "POST",
          "/v1/messages",
          { host, origin: `http://${host}`, "content-type": "application/json" },
          JSON.stringify({ chat: "own", text: "x" }),
        )
      ).status,
    ).toBe(202);
    expect(
      (
        await rawRequest(
          claw.httpPort,
          "POST",
          "/v1/messages",
          { host, "content-type": "application/json; charset=utf-8" },
          JSON.stringify({ chat: "own", text: "x" }),
        )
      ).status,
    ).toBe(202);
    // what a page may send without asking first is not JSON here
    for (const type of ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", undefined]) {
      const r = await rawRequest(claw.httpPort, "POST", "/v1/agents", { host, ...(type ? { "content-type": type } : {}) }, agent);
      expect(r.status, String(type)).toBe(415);
      expect(r.json.error.code).toBe("unsupported_media_type");
    }
    expect(JSON.stringify(await api("/v1/agents"))).not.toContain("via-header");
  }, 30_000);

  it("keeps /chat and /ui working from their own origin", async () => {
    for (const origin of [base, `http://localhost:${claw.httpPort}`]) {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${origin}/chat`);
      await page.waitForSelector('#status[data-status="open"]');
      await page.fill("#text", `hello from ${origin}`);
      await page.click('#composer button[type="submit"]');
      await page.waitForFunction((t) => [...document.querySelectorAll("#messages li:not(.mine)")].some((li) => li.textContent === t), `hello from ${origin}`, {
        timeout: 10_000,
      });
      await page.goto(`${origin}/ui`);
      await page.waitForSelector('#connection[data-status="open"]', { timeout: 10_000 });
      await page.waitForSelector("#members tr[data-node]");
      expect(errors).toEqual([]);
      await page.close();
    }
  }, 60_000);
});

describe("origins and hosts an operator lists", () => {
  let nats: NatsServerProcess;
  let claw: ClawProcess;
  beforeAll(async () => {
    nats = await natsServer();
    claw = await startClaw({
      env: { NATS_URL: nats.url, CLAW_HTTP_ORIGINS: "https://app.example.com", CLAW_HTTP_HOSTS: "claw.example.com,*.internal.example" },
    });
  }, 60_000);
  afterAll(async () => {
    await claw?.kill("SIGKILL");
    await nats?.[Symbol.asyncDispose]();
  });

  it("lets a listed origin's page in, with CORS, and answers listed hosts", async () => {
    const host = `127.0.0.1:${claw.httpPort}`;
    const preflight = await rawRequest(claw.httpPort, "OPTIONS", "/v1/agents", {
      host,
      origin: "https://app.example.com",
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    expect(preflight.headers["access-control-allow-headers"]).toContain("content-type");
    const listed = await rawRequest(
      claw.httpPort,
      "POST",
      "/v1/agents",
      { host, origin: "https://app.example.com", "content-type": "application/json" },
      JSON.stringify({ id: "listed", system: "x" }),
    );
    expect(listed.status).toBe(201);
    expect(listed.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    const other = await rawRequest(claw.httpPort, "OPTIONS", "/v1/agents", {
      host,
      origin: "https://other.example.com",
      "access-control-request-method": "POST",
    });
    expect(other.status).toBe(403);
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
    for (const h of ["claw.example.com", "claw.example.com:8443", "a.internal.example"])
      expect((await rawRequest(claw.httpPort, "GET", "/v1/agents", { host: h })).status, h).toBe(200);
    for (const h of ["internal.example", "claw.example.com.evil", "example.com"])
      expect((await rawRequest(claw.httpPort, "GET", "/v1/agents", { host: h })).status, h).toBe(403);
  }, 30_000);
});
