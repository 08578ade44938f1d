/**
 * The live view in a real headless Chromium (Debian's /usr/bin/chromium,
 * driven by playwright-core) against a real node and nats-server: the
 * statechart renders, a picked session's state follows a slow turn, the
 * transitions and the persisted context show up; a WhatsApp account's QR
 * code to pair with shows in the inspector. Screenshots land in
 * test-artifacts/ui/. Needs `npm run build` (the node and its assets).
 */
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sessionKey, WATCH_SUBJECT } from "../../src/bus/index.js";
import type { WatchRequest } from "../../src/observability/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { channelConfig } from "../support/channels.js";
import { client, natsServer, type NatsServerProcess } from "../support/nats-server.js";

/** Debian's Chromium; CLAW_CHROMIUM points elsewhere (another distribution's binary) */
const CHROMIUM = process.env.CLAW_CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/ui/", import.meta.url));
const CHAT = { channel: "web", account: "demo", chat: "c1" };
/** the default agent `echo` keeps one session per chat: `<channel>:<account>:<chat>` */
const SESSION = sessionKey("echo", `${CHAT.channel}:${CHAT.account}:${CHAT.chat}`);

let nats: NatsServerProcess | undefined;
let claw: ClawProcess | undefined;
let browser: Browser | undefined;
let base = "";

async function post(text: string): Promise<string> {
  const res = await fetch(`${base}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...CHAT, text, sender: { id: "me" } }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { message_id: string }).message_id;
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

/** The atomic states highlighted in the chart now. */
const activeLeaves = (page: Page) =>
  page.$$eval("svg.statechart g.state.active", (gs) =>
    gs.filter((g) => !g.classList.contains("state-compound") && !g.classList.contains("state-parallel")).map((g) => (g as SVGGElement).dataset.state),
  );

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: the live-view test drives a real headless Chromium. Install it with \`apt-get install -y chromium\` (Debian/Ubuntu), ` +
        `or set CLAW_CHROMIUM to a Chromium binary.`,
    );
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  nats = await natsServer();
  claw = await startClaw({ env: { NATS_URL: nats.url } });
  base = `http://127.0.0.1:${claw.httpPort}`;
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
  await claw?.kill("SIGKILL");
  await nats?.[Symbol.asyncDispose]();
});

describe("live view at /ui", () => {
  it("draws the session statechart and follows a picked session through a slow turn", async () => {
    const page = await browser!.newPage({ viewport: { width: 1440, height: 900 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(`${base}/ui`);

    // the chart is drawn from the machine: its three states, the initial marker, the event labels
    await page.waitForSelector('svg.statechart[data-kind="session"]');
    const states = await page.$$eval("svg.statechart g.state", (gs) => gs.map((g) => (g as SVGGElement).dataset.state));
    expect(states).toEqual(expect.arrayContaining(["idle", "thinking", "replying"]));
    expect(await page.locator('svg.statechart g.initial[data-initial-of=""]').count()).toBe(1);
    expect(await page.locator('svg.statechart g.transition[data-event="inbound.received"][data-target="thinking"]').count()).toBe(1);
    expect(await page.textContent("svg.statechart")).toContain("model.replied");
    // the cluster strip: this node leads and owns all 64 partitions
    await page.waitForSelector(`#members tr[data-node]`);
    expect(await page.locator("#partitions .partition").count()).toBe(64);
    // and says it is ready, as its /readyz does
    expect(await page.textContent('#cluster-summary [data-role="readiness"]')).toMatch(/ ready$/);
    await shot(page, "01-loaded");
    await page.waitForSelector('#connection[data-status="open"]');

    // a first turn creates the session; "watch all sessions" (the default) follows it
    await post("/slow 10 first");
    await page.waitForFunction((id) => document.querySelector(`#actor-list li.actor[data-actor-id="${id}"]`) !== null, SESSION, { timeout: 10_000 });
    await page.waitForSelector('svg.statechart g.state.active[data-state="idle"]');
    await page.waitForFunction(() => document.querySelector("#context")?.textContent?.includes("/slow 10 first"), undefined, { timeout: 10_000 });
    expect(await page.textContent(`#actor-list li.actor[data-actor-id="${SESSION}"]`)).toContain("web:demo:c1");

    // pick the session: only it is watched from now on
    await page.click(`#actor-list li.actor[data-actor-id="${SESSION}"]`);
    await page.waitForSelector(`#actor-list li.actor.selected[data-actor-id="${SESSION}"]`);
    expect(await page.getAttribute("#watch-all", "aria-pressed")).toBe("false");
    await page.waitForSelector('svg.statechart g.state.active[data-state="idle"]');
    await shot(page, "02-picked");

    // record every change of the highlighted state from here on
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seenStates: string[] }).seenStates = seen;
      const chart = document.querySelector("svg.statechart")!;
      new MutationObserver(() => {
        const now = [...chart.querySelectorAll("g.state.state-atomic.active")].map((g) => (g as SVGGElement).dataset.state ?? "").join("|");
        if (now && seen.at(-1) !== now) seen.push(now);
      }).observe(chart, { subtree: true, attributes: true, attributeFilter: ["class"] });
    });

    await post("/slow 1500 hello");
    await page.waitForSelector('svg.statechart g.state.active[data-state="thinking"]', { timeout: 5_000 });
    expect(await activeLeaves(page)).toEqual(["thinking"]);
    await shot(page, "03-thinking");
    await page.waitForSelector('svg.statechart g.state.active[data-state="idle"]', { timeout: 10_000 });
    expect(await activeLeaves(page)).toEqual(["idle"]);
    expect(await page.evaluate(() => (window as unknown as { seenStates: string[] }).seenStates)).toEqual(["thinking", "replying", "idle"]);

    // the transitions pane lists the turn, newest first
    await page.waitForSelector('#transitions li[data-event="inbound.received"][data-state="thinking"]');
    const transitions = await page.$$eval("#transitions li", (lis) => lis.map((li) => li.textContent ?? ""));
    expect(transitions[0]).toMatch(/reply\.published → idle/);
    expect(transitions.some((t) => /inbound\.received → thinking/.test(t))).toBe(true);

    // the persisted context has both turns' history
    await page.waitForFunction(() => document.querySelector("#context")?.textContent?.includes('"text": "slept 1500 ms"'), undefined, { timeout: 10_000 });
    const context = JSON.parse((await page.textContent("#context")) ?? "{}") as { history: Array<{ role: string; text: string }>; turns: number };
    expect(context.turns).toBe(2);
    expect(context.history.map((t) => `${t.role}: ${t.text}`)).toEqual([
      "user: /slow 10 first",
      "assistant: slept 10 ms",
      "user: /slow 1500 hello",
      "assistant: slept 1500 ms",
    ]);
    await shot(page, "04-idle-again");

    // the search narrows the list by agent and chat, as typed
    await page.fill("#search", "no-such-chat");
    await page.waitForSelector("#actor-list li.empty");
    await page.fill("#search", "demo:c1");
    await page.waitForSelector(`#actor-list li.actor[data-actor-id="${SESSION}"]`);

    expect(pageErrors).toEqual([]);
    await page.close();
  }, 60_000);

  it("draws each session with its own agent kind's machine", async () => {
    // a second kind beside the assistant: a relay that hands what comes on `desk` to echo
    const registered = await fetch(`${base}/v1/agents`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: "desk", kind: "relay", options: { to: "echo" }, bindings: [{ channel: "desk" }] }),
    });
    expect(registered.status).toBe(201);
    const relayed = sessionKey("desk", "desk:demo:c9");
    const answered = sessionKey("echo", "desk:demo:c9");
    const page = await browser!.newPage({ viewport: { width: 1440, height: 900 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(`${base}/ui`);
    await page.waitForSelector('#connection[data-status="open"]');
    const res = await fetch(`${base}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ channel: "desk", account: "demo", chat: "c9", text: "pass it on", sender: { id: "me" } }),
    });
    expect(res.status).toBe(202);
    for (const id of [relayed, answered]) await page.waitForSelector(`#actor-list li.actor[data-actor-id="${id}"]`, { timeout: 10_000 });

    // the relay's session: the relay's machine, its own states, where it is now
    await page.click(`#actor-list li.actor[data-actor-id="${relayed}"]`);
    await page.waitForSelector('svg.statechart[data-kind="session"][data-machine="relay"]');
    const states = await page.$$eval("svg.statechart g.state", (gs) => gs.map((g) => (g as SVGGElement).dataset.state));
    expect(states).toEqual(expect.arrayContaining(["idle", "relaying"]));
    expect(states).not.toContain("thinking");
    expect(await page.locator('svg.statechart g.transition[data-event="turn.relayed"][data-target="idle"]').count()).toBe(1);
    await page.waitForSelector('svg.statechart g.state.active[data-state="idle"]');
    expect(await page.textContent("#chart-title")).toContain("machine relay");
    await page.waitForFunction(() => document.querySelector("#context")?.textContent?.includes('"relayed": 1'), undefined, { timeout: 10_000 });
    await shot(page, "06-relay-session");

    // the session it handed the message to: the assistant's machine
    await page.click(`#actor-list li.actor[data-actor-id="${answered}"]`);
    await page.waitForSelector('svg.statechart[data-kind="session"][data-machine="assistant"]');
    expect(await page.$$eval("svg.statechart g.state", (gs) => gs.map((g) => (g as SVGGElement).dataset.state))).toEqual(
      expect.arrayContaining(["idle", "thinking", "replying"]),
    );
    await page.waitForSelector('svg.statechart g.state.active[data-state="idle"]');
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 60_000);

  it("shows a WhatsApp account's QR code to pair with, then that it is linked", async () => {
    // a node with a WhatsApp account: without the internet it backs off, and stays listed as a channel actor
    await using node = await startClaw({
      env: { NATS_URL: nats!.url, CLAW_CONFIG: await channelConfig([{ type: "whatsapp", account: "phone" }]), CLAW_NODE_ID: "wa" },
    });
    await using c = await client(nats!.url);
    const page = await browser!.newPage({ viewport: { width: 1440, height: 900 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${node.httpPort}/ui`);
    await page.waitForSelector('#kind option[value="channel"]', { state: "attached" });
    await page.selectOption("#kind", "channel");
    await page.waitForSelector('#actor-list li.actor[data-actor-id="whatsapp-phone"]', { timeout: 15_000 });
    await page.click('#actor-list li.actor[data-actor-id="whatsapp-phone"]');
    // what the account announces (the adapter announces baileys' QR codes here)
    const announce = (event: string, data: Record<string, unknown>) =>
      c.nc.publish(`claw.events.channel.whatsapp.phone.${event}`, JSON.stringify({ ...data, node: "wa" }));
    const shown = async (selector: string) => {
      for (let i = 0; i < 40; i++) {
        if (await page.$(selector)) return;
        announce("qr", { qr: "2@ABCDEFGHIJKLMNOP,QRSTUVWXYZ" });
        await page.waitForTimeout(250);
      }
      throw new Error(`${selector} did not show`);
    };
    await shown("#pairing img.qr");
    expect(await page.isVisible("#pairing")).toBe(true);
    expect(await page.textContent("#pairing h2")).toBe("Pair whatsapp account phone");
    expect(await page.getAttribute("#pairing img.qr", "src")).toMatch(/^data:image\/svg\+xml/);
    // the SVG decodes into an image the size the page gives it
    expect(await page.$eval("#pairing img.qr", (img) => (img as HTMLImageElement).naturalWidth > 0 && (img as HTMLImageElement).complete)).toBe(true);
    await shot(page, "05-whatsapp-qr");
    announce("open", { paired: true });
    await page.waitForFunction(() => document.querySelector("#pairing h2")?.textContent === "whatsapp account phone is linked");
    expect(pageErrors).toEqual([]);
    await page.close();
    // leaves the cluster as it came (the next test counts its members)
    expect(await node.kill("SIGTERM")).toBe(0);
  }, 60_000);

  it("answers the JSON API and refuses paths outside the assets", async () => {
    const get = async (path: string) => {
      const res = await fetch(`${base}${path}`);
      return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() };
    };
    const machines = JSON.parse((await get("/ui/api/machines")).body) as { machines: Array<{ kind: string; states: Array<{ path: string }> }> };
    expect(machines.machines.map((m) => m.kind)).toContain("session");

    const listed = JSON.parse((await get("/ui/api/actors?kind=session&q=demo")).body) as { actors: Array<{ id: string; agent: string; session: string }> };
    expect(listed.actors).toContainEqual(expect.objectContaining({ id: SESSION, agent: "echo", session: "web:demo:c1" }));
    expect(JSON.parse((await get("/ui/api/actors?kind=session&q=nothing-like-this")).body).actors).toEqual([]);

    const detail = await get(`/ui/api/actors/session/${SESSION}`);
    expect(detail.status).toBe(200);
    expect(JSON.parse(detail.body)).toMatchObject({ id: SESSION, state: "idle", context: { agent: "echo", turns: 2 } });
    expect((await get("/ui/api/actors/session/echo.nobody")).status).toBe(404);
    expect((await get("/ui/api/actors/robot/x")).status).toBe(400);

    const cluster = JSON.parse((await get("/ui/api/cluster")).body) as {
      members: unknown[];
      partitions: unknown[];
      dlq: { messages: number };
      readiness: unknown;
    };
    expect(cluster.readiness).toEqual({ ready: true, reasons: [] });
    expect(cluster.members).toHaveLength(1);
    expect(cluster.partitions).toHaveLength(64);
    expect(cluster.dlq.messages).toBe(0);

    expect(await get("/ui/assets/app.js")).toMatchObject({ status: 200, type: expect.stringContaining("text/javascript") });
    expect(await get("/ui/assets/style.css")).toMatchObject({ status: 200, type: expect.stringContaining("text/css") });
    expect((await get("/ui/assets/..%2F..%2Fnode.js")).status).toBe(404);
    expect((await get("/ui/assets/%2e%2e/ui-routes.js")).status).toBe(404);
    expect((await get("/ui/assets/missing.js")).status).toBe(404);

    expect((await get("/ui/events?kind=session&id=a.*")).status).toBe(400);
  }, 30_000);

  it("keeps a watch on the bus while an event stream is open, and stops renewing it when the browser leaves", async () => {
    await using c = await client(nats!.url);
    const probe = "echo.ui-probe";
    const watches: number[] = [];
    const sub = c.nc.subscribe(WATCH_SUBJECT, {
      callback: (_err, m) => {
        const w = m.json<WatchRequest>();
        if (w.kind === "session" && w.id === probe) watches.push(Date.now());
      },
    });
    await c.nc.flush();
    const ac = new AbortController();
    const res = await fetch(`${base}/ui/events?kind=session&id=${probe}`, { signal: ac.signal });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes("event: hello")) text += new TextDecoder().decode((await reader.read()).value);
    await until(() => watches.length >= 1, 2_000);
    // renewed before the 10 s ttl runs out
    await until(() => watches.length >= 2, 6_000);
    ac.abort();
    const renewals = watches.length;
    await new Promise((r) => setTimeout(r, 5_000));
    expect(watches).toHaveLength(renewals);
    sub.unsubscribe();
  }, 30_000);
});
