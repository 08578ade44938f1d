/**
 * `browser.open` through real agent turns: a page whose text a script writes
 * is read as a person sees it, from Debian's Chromium in bubblewrap; every
 * request the page makes goes through the node's checks — a private address
 * is refused as the first URL, as a redirect's target, as an image and as a
 * fetch, and nothing reaches it; no Chromium is left behind after a call, a
 * timeout, or the node's SIGKILL.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STREAMS } from "../../src/bus/index.js";
import { skipWithout } from "../support/ci.js";
import { startClaw } from "../support/claw-node.js";
import { client, natsServer, type NatsServerProcess, type TestClient } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody } from "../support/replies.js";
import { until } from "../support/until.js";

const CHROMIUM = "/usr/bin/chromium";
const missing = !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM} (apt-get install chromium)` : undefined;

/** The pids of Chromium processes started by browser.open (its flags are its own). */
function ourBrowsers(): number[] {
  const pids: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      if (cmd.includes("MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const listen = (s: Server, host: string) => new Promise<number>((r) => s.listen(0, host, () => r((s.address() as { port: number }).port)));

describe.skipIf(skipWithout("browser.open", missing))("browser.open", () => {
  let nats: NatsServerProcess;
  let c: TestClient;
  let site: Server;
  let secret: Server;
  let sitePort = 0;
  let secretPort = 0;
  const secretHits: string[] = [];

  beforeAll(async () => {
    nats = await natsServer();
    c = await client(nats.url);
    // the private service the page must not reach: 127.0.0.2 is loopback, and not listed
    secret = createServer((req, res) => (secretHits.push(req.url ?? ""), res.end("secret")));
    secretPort = await listen(secret, "127.0.0.2");
    const other = `http://127.0.0.2:${secretPort}`;
    site = createServer((req, res) => {
      if (req.url === "/") {
        res.writeHead(200, { "content-type": "text/html" });
        res.end(`<!doctype html><title>Claw test page</title><body><p>loading…</p>
<img src="${other}/pixel.png">
<script>
  fetch("${other}/leak").catch(() => {});
  setTimeout(() => { document.body.insertAdjacentHTML("beforeend", '<h1 id="done">rendered by script</h1>'); }, 200);
</script></body>`);
      } else if (req.url === "/go") {
        res.writeHead(302, { location: `${other}/secret` });
        res.end();
      } else if (req.url === "/hang") {
        // never answers
      } else {
        res.writeHead(404).end();
      }
    });
    sitePort = await listen(site, "127.0.0.1");
  });
  afterAll(async () => {
    site?.closeAllConnections();
    secret?.closeAllConnections();
    site?.close();
    secret?.close();
    await c?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  async function node() {
    const config = join(tmpdir(), `claw-browser-${process.pid}.json`);
    await writeFile(config, JSON.stringify({ agents: [{ id: "surfer", skills: ["browser.open"], toolTimeoutMs: 60_000 }] }));
    return startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config, CLAW_BROWSER_ALLOW: `127.0.0.1:${sitePort}` } });
  }

  it("reads a rendered page and refuses a private address as the URL, a redirect, an image and a fetch, leaving no browser behind", async () => {
    await using claw = await node();
    void claw;
    const out = await collectStreamReplies(c.js, c.jsm);
    const ask = async (id: string, input: unknown) => {
      await c.js.publish("claw.in.t.a.c1", jsonBody({ id, text: `/tool browser.open ${JSON.stringify(input)}`, sender: { id: "u" } }));
      return (await out.waitFor(id, 60_000)).text!;
    };

    const page = await ask("b-1", { url: `http://127.0.0.1:${sitePort}/`, waitFor: "#done" });
    expect(page.startsWith("browser.open: "), page).toBe(true);
    const read = JSON.parse(page.slice("browser.open: ".length)) as { url: string; title: string; text: string; blocked?: string[] };
    expect(read.title).toBe("Claw test page");
    expect(read.text).toContain("rendered by script");
    expect(read.blocked?.some((u) => u.includes(`127.0.0.2:${secretPort}`))).toBe(true);

    expect(await ask("b-2", { url: `http://127.0.0.2:${secretPort}/secret` })).toMatch(/^browser\.open failed: error \(denied\): .*127\.0\.0\.2/);
    expect(await ask("b-3", { url: `http://127.0.0.1:${sitePort}/go` })).toMatch(/^browser\.open failed: error \(denied\): redirected to 127\.0\.0\.2/);
    expect(await ask("b-4", { url: "file:///etc/passwd" })).toMatch(/^browser\.open failed: error \(denied\): only http and https/);
    // a page that never answers: the call's own timeout ends it, and its browser
    expect(await ask("b-5", { url: `http://127.0.0.1:${sitePort}/hang`, timeoutMs: 2000 })).toMatch(
      /^browser\.open failed: error \(exit\): the page did not load/,
    );
    expect(secretHits).toEqual([]);
    await until(() => ourBrowsers().length === 0, "no browser.open Chromium left", 10_000);
    out.stop();
  }, 180_000);

  it("keeps a screenshot out of the turn: its bytes go to claw_media, the reply carries its link, and the link serves the PNG", async () => {
    await using claw = await node();
    // the first test's reader of CLAW_OUT (a work queue: one reader per subject) goes first
    for await (const ci of c.jsm.consumers.list(STREAMS.out)) if (ci.name.startsWith("test-out-")) await c.jsm.consumers.delete(STREAMS.out, ci.name);
    const out = await collectStreamReplies(c.js, c.jsm);
    const input = { url: `http://127.0.0.1:${sitePort}/`, waitFor: "#done", screenshot: true };
    await c.js.publish("claw.in.t.a.c2", jsonBody({ id: "shot-1", text: `/tool browser.open ${JSON.stringify(input)}`, sender: { id: "u" } }));
    const reply = await out.waitFor("shot-1", 60_000);
    // what the model read (the scripted model answers with it): a link, never the bytes
    const content = reply.text!.slice("browser.open: ".length);
    expect(content.length, "the tool result the model reads").toBeLessThan(20_000);
    const read = JSON.parse(content) as { title: string; media: Array<{ type: string; mime: string; url: string; size: number; data?: string }> };
    expect(read.title).toBe("Claw test page");
    expect(read.media).toHaveLength(1);
    const shot = read.media[0]!;
    expect(shot).toMatchObject({ type: "image", mime: "image/png", name: "screenshot.png" });
    expect(shot.data).toBeUndefined();
    expect(shot.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${claw.httpPort}/v1/media/md[a-z0-9]{32}$`));
    // the reply takes it to its channel
    expect(reply.media).toEqual([expect.objectContaining({ type: "image", url: shot.url })]);
    const png = await fetch(shot.url);
    expect(png.status).toBe(200);
    expect(png.headers.get("content-type")).toBe("image/png");
    expect(png.headers.get("x-content-type-options")).toBe("nosniff");
    const bytes = Buffer.from(await png.arrayBuffer());
    expect(bytes.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
    expect(bytes.length).toBe(shot.size);
    // nothing else is there: an id not made, a path that is no id
    expect((await fetch(`http://127.0.0.1:${claw.httpPort}/v1/media/md${"0".repeat(32)}`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${claw.httpPort}/v1/media/..%2F..%2Fetc%2Fpasswd`)).status).toBe(404);
    out.stop();
  }, 120_000);

  it("takes its browsers along when the node is SIGKILLed mid-call", async () => {
    const claw = await node();
    await c.js.publish(
      "claw.in.t.a.c2",
      jsonBody({ id: "k-1", text: `/tool browser.open {"url":"http://127.0.0.1:${sitePort}/hang","timeoutMs":60000}`, sender: { id: "u" } }),
    );
    // the precondition: its Chromium is running, waiting for the page
    await until(() => ourBrowsers().length > 0, "browser.open's Chromium to start", 60_000);
    await claw.kill("SIGKILL");
    await until(() => ourBrowsers().length === 0, "no browser.open Chromium left after the node's SIGKILL", 15_000);
  }, 120_000);
});
