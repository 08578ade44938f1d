/**
 * `@claw/sdk`'s HTTP part in a real browser (Debian's headless Chromium
 * through playwright-core), loaded as the built ES modules from a page of
 * another origin that the node lists in CLAW_HTTP_ORIGINS: it invokes an
 * agent, reads a stream and a paged list, publishes (its idempotency key made
 * with the browser's crypto), gets a 404 as `ClawError` across CORS, and
 * checks a webhook signature (its one package, @noble/hashes, mapped by the
 * page's import map as a bundler would resolve it).
 */
import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { skipWithout } from "../support/ci.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";

const CHROMIUM = process.env.CLAW_CHROMIUM ?? "/usr/bin/chromium";
const DIST = new URL("../../sdk/typescript/dist/", import.meta.url);
const NOBLE = new URL(".", `file://${createRequire(new URL("../../sdk/typescript/package.json", import.meta.url)).resolve("@noble/hashes/hmac.js")}`);
const PAGE = `<!doctype html><title>sdk</title><script type="importmap">{"imports": {"@noble/hashes/": "/noble/"}}</script>`;

describe.skipIf(skipWithout("the SDK in a browser", existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install -y chromium)`))(
  "@claw/sdk in a browser",
  () => {
    let nats: NatsServerProcess;
    let node: ClawProcess;
    let site: Server;
    let origin = "";
    let browser: Browser;

    beforeAll(async () => {
      // the page's origin: a blank page with the import map, the SDK's modules under /sdk/, @noble/hashes under /noble/
      site = createServer(async (req, res) => {
        const path = new URL(req.url ?? "/", "http://x").pathname;
        const dir = path.startsWith("/sdk/") ? DIST : path.startsWith("/noble/") ? NOBLE : undefined;
        if (!dir) return void res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
        const file = await readFile(new URL(path.slice(path.indexOf("/", 1) + 1).replace(/[^\w.-]/g, ""), dir)).catch(() => undefined);
        if (!file) return void res.writeHead(404).end();
        res.writeHead(200, { "content-type": "text/javascript" }).end(file);
      });
      await new Promise<void>((r) => site.listen(0, "127.0.0.1", () => r()));
      origin = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
      nats = await natsServer();
      node = await startClaw({ env: { NATS_URL: nats.url, CLAW_HTTP_ORIGINS: origin } });
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
      });
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await node?.[Symbol.asyncDispose]();
      await nats?.stop();
      await new Promise((r) => site?.close(r));
    });

    it("calls the node from a page, and checks a webhook signature", async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${origin}/`);
      const body = JSON.stringify({ type: "reply", reply: { text: "hé" } });
      const ts = Math.floor(Date.now() / 1000);
      const signature = `sha256=${createHmac("sha256", "whsec").update(`${ts}.${body}`).digest("hex")}`;
      // the page's own script, as text: vitest would rewrite a function's dynamic import for Node
      const args = JSON.stringify({ base: `http://127.0.0.1:${node.httpPort}`, body, ts, signature });
      const got = await page.evaluate(`(async ({ base, body, ts, signature }) => {
        const { Claw, ClawError, verifyWebhook } = await import("/sdk/index.js");
        const claw = new Claw({ baseUrl: base, retries: 1 });
        const invoked = await claw.agents.invoke("echo", { text: "from a browser", session: "browser-1" });
        const pieces = [];
        for await (const p of claw.agents.stream("echo", { text: "streamed", session: "browser-1" })) pieces.push(p);
        const agents = [];
        for await (const a of claw.agents.list({ pageSize: 1 })) agents.push(a.spec.id);
        const published = await claw.messages.publish({ chat: "browser-chat", text: "hi" });
        const missing = await claw.agents.get("nope").catch((e) => e);
        const headers = new Headers({ "claw-webhook-id": "d-1", "claw-webhook-timestamp": String(ts), "claw-webhook-signature": signature });
        return {
          reply: invoked.reply.text,
          streamed: pieces.join(""),
          agents,
          published: typeof published.messageId === "string" && published.duplicate === false,
          missing: missing instanceof ClawError ? { status: missing.status, code: missing.code } : String(missing),
          verified: verifyWebhook({ secret: "whsec", headers, body }),
          tampered: verifyWebhook({ secret: "whsec", headers, body: body.replace("hé", "he") }),
        };
      })(${args})`);
      expect(got).toEqual({
        reply: "from a browser",
        streamed: "streamed",
        agents: ["echo"],
        published: true,
        missing: { status: 404, code: "no_agent" },
        verified: true,
        tampered: false,
      });
      expect(errors).toEqual([]);
    });
  },
);
