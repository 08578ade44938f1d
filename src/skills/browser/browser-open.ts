/**
 * `browser.open {url, waitFor?, screenshot?, timeoutMs?}` → `{url, title,
 * text}`: a page as a person sees it — rendered by a real headless Chromium
 * (Debian's, driven through playwright-core), its scripts run — read as text.
 *
 * The browser is held on three sides:
 * - **its network**: every request it makes goes through the invocation's
 *   egress proxy (egress-proxy.ts), which admits only `CLAW_BROWSER_ALLOW`'s
 *   hosts on checked, pinned addresses; Chromium resolves no name itself.
 *   A first URL (or a redirect of it) that is refused fails the call
 *   `denied`; refused subresources and fetches are left out and listed;
 * - **its process**: Chromium runs in bubblewrap (own PID, IPC and UTS
 *   namespaces, the system read-only, an empty /tmp, no /etc but fonts and
 *   certificates) as the sandbox's user when the node is root, killed with
 *   its parent: a node SIGKILLed takes its browsers along;
 * - **its time**: one browser per call, closed at the end, at the timeout and
 *   when the call is cancelled.
 */
import { chmod, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { HostResolver } from "../../net/index.js";
import { fetchAllowlist } from "../fetch-allowlist.js";
import { findBinary, SANDBOX_UID, systemDirs } from "../sandbox/bubblewrap.js";
import { SkillFailure, type BuiltinSkill } from "../skill.js";
import { startEgressProxy } from "./egress-proxy.js";

/** The most text a page gives back, in characters. */
export const MAX_PAGE_TEXT = 100_000;

/** What `browser.open` is given of the node. */
export interface BrowserOptions {
  /** hosts pages and their requests may reach (`CLAW_BROWSER_ALLOW`) */
  allow: readonly string[];
  resolver: HostResolver;
  /** the Chromium binary (`CLAW_BROWSER_EXECUTABLE`, default `/usr/bin/chromium`) */
  executable: string;
  /** a folder of the node's own where the sandboxed launcher is written */
  runnerDir: string;
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** The launcher playwright starts instead of Chromium: bubblewrap around it, dying with its parent. */
async function writeLauncher(o: BrowserOptions, bwrap: string): Promise<string> {
  const dirs = ["/etc/fonts", "/etc/chromium", "/etc/chromium.d"].filter(existsSync).flatMap((d) => ["--ro-bind", d, d]);
  // a root node hands the browser to the sandbox's user first, as it does skills (bubblewrap.ts)
  const setpriv = process.getuid?.() === 0 ? findBinary("setpriv") : undefined;
  const argv = [
    ...(setpriv ? [setpriv, `--reuid=${SANDBOX_UID}`, `--regid=${SANDBOX_UID}`, "--clear-groups"] : []),
    bwrap,
    ...(setpriv ? ["--unshare-user", "--uid", String(SANDBOX_UID), "--gid", String(SANDBOX_UID)] : []),
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--new-session",
    ...systemDirs(),
    ...dirs,
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
    "--setenv",
    "HOME",
    "/tmp",
    "--",
    o.executable,
  ];
  const path = join(o.runnerDir, "chromium-sandboxed.sh");
  await writeFile(path, `#!/bin/sh\nexec ${argv.map(quote).join(" ")} "$@"\n`, { mode: 0o700 });
  await chmod(path, 0o700);
  return path;
}

/** Chromium's flags: the proxy for everything, no name resolved by itself, no UDP around the proxy, nothing kept. */
function chromiumArgs(proxy: string): string[] {
  return [
    `--proxy-server=${proxy}`,
    // loopback too goes through the proxy (Chromium bypasses it for localhost by default)
    "--proxy-bypass-list=<-loopback>",
    // every name is the proxy's to resolve: the page cannot reach an address by DNS the proxy did not check
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--disable-quic",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    // Chromium's own calls home: nothing the page asked for
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-default-apps",
    "--no-pings",
  ];
}

/** The `browser.open` skill. */
export function browserOpenSkill(o: BrowserOptions): BuiltinSkill {
  const allow = fetchAllowlist(o.allow);
  let launcher: Promise<string> | undefined;
  return {
    descriptor: {
      id: "browser.open",
      version: "1.0.0",
      runtime: "builtin",
      description:
        "Opens a web page in a real browser (its scripts run) and returns its title and visible text (at most 100 KB). " +
        "Only the hosts the node allows are reachable.",
      input: {
        type: "object",
        properties: {
          url: { type: "string", minLength: 1, maxLength: 4096, description: "the http(s) URL to open" },
          waitFor: { type: "string", minLength: 1, maxLength: 500, description: "a CSS selector to wait for before reading the page" },
          screenshot: { type: "boolean", description: "also take a PNG screenshot of the viewport" },
          timeoutMs: { type: "integer", minimum: 1000, maximum: 60_000, description: "how long the page may take (default 20000)" },
        },
        required: ["url"],
        additionalProperties: false,
      },
      output: { type: "object", required: ["url", "title", "text"] },
      limits: { timeoutMs: 65_000 },
      idempotent: true,
    },
    async run(input, ctx) {
      const i = input as { url: string; waitFor?: string; screenshot?: boolean; timeoutMs?: number };
      let url: URL;
      try {
        url = new URL(i.url);
      } catch {
        throw new SkillFailure("invalid_input", `input.url: not a URL: ${i.url}`);
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new SkillFailure("denied", `only http and https: ${url.protocol}`);
      if (allow.entries.length === 0) throw new SkillFailure("denied", "no host is allowed: set CLAW_BROWSER_ALLOW on the node (e.g. *.wikipedia.org)");
      if (!existsSync(o.executable))
        throw new SkillFailure("unavailable", `no Chromium at ${o.executable} (install Debian's chromium, or set CLAW_BROWSER_EXECUTABLE)`);
      const bwrap = findBinary("bwrap");
      if (!bwrap) throw new SkillFailure("unavailable", "browser.open runs Chromium in bubblewrap, which this node lacks (apt-get install bubblewrap)");
      launcher ??= writeLauncher(o, bwrap);
      const executablePath = await launcher.catch((e: unknown) => {
        launcher = undefined;
        throw e;
      });
      return openPage(i, url, { executablePath, allow, resolver: o.resolver, signal: ctx.signal });
    },
  };
}

/** One call: a proxy, a browser, a page; all three closed whatever happens. */
async function openPage(
  i: { waitFor?: string; screenshot?: boolean; timeoutMs?: number },
  url: URL,
  o: { executablePath: string; allow: ReturnType<typeof fetchAllowlist>; resolver: HostResolver; signal: AbortSignal },
): Promise<unknown> {
  const { chromium } = await import("playwright-core");
  const proxy = await startEgressProxy({ allow: o.allow, resolver: o.resolver, setting: "CLAW_BROWSER_ALLOW" });
  const timeout = i.timeoutMs ?? 20_000;
  const browser = await chromium.launch({
    executablePath: o.executablePath,
    args: chromiumArgs(proxy.url),
    timeout: 30_000,
    handleSIGINT: false,
    handleSIGTERM: false,
  });
  const stop = () => void browser.close().catch(() => undefined);
  o.signal.addEventListener("abort", stop, { once: true });
  try {
    const context = await browser.newContext({ serviceWorkers: "block", acceptDownloads: false, javaScriptEnabled: true });
    const page = await context.newPage();
    const response = await page.goto(url.href, { waitUntil: "load", timeout }).catch((e: unknown) => {
      // refused on the way: the first URL, or (a tunnel the proxy refused) where it redirected to
      const tunnel = /ERR_TUNNEL_CONNECTION_FAILED/.test((e as Error)?.message ?? "");
      const first = proxy.refused.find((r) => sameTarget(r.url, url)) ?? (tunnel ? proxy.refused.findLast((r) => r.url.startsWith("https:")) : undefined);
      if (first) throw new SkillFailure("denied", `${url.host}: ${first.reason}`);
      throw new SkillFailure("exit", `the page did not load: ${(e as Error).message.split("\n")[0]}`);
    });
    // a redirect to a refused host: the proxy answered it 403
    const finalUrl = page.url();
    const refusedFinal = proxy.refused.find((r) => response?.status() === 403 && sameTarget(r.url, new URL(finalUrl)));
    if (refusedFinal) throw new SkillFailure("denied", `redirected to ${new URL(finalUrl).host}: ${refusedFinal.reason}`);
    if (i.waitFor) await page.waitForSelector(i.waitFor, { timeout }).catch(() => undefined);
    const title = await page.title();
    const text = ((await page.evaluate("document.body ? document.body.innerText : ''")) as string) ?? "";
    const shot = i.screenshot ? await page.screenshot({ type: "png" }) : undefined;
    return {
      url: finalUrl,
      title,
      text: text.length > MAX_PAGE_TEXT ? text.slice(0, MAX_PAGE_TEXT) : text,
      ...(text.length > MAX_PAGE_TEXT ? { truncated: true } : {}),
      status: response?.status(),
      ...(proxy.refused.length ? { blocked: proxy.refused.slice(0, 50).map((r) => r.url) } : {}),
      ...(shot ? { media: [{ type: "image", mime: "image/png", name: "screenshot.png", size: shot.length, data: shot.toString("base64") }] } : {}),
    };
  } finally {
    o.signal.removeEventListener("abort", stop);
    await browser.close().catch(() => undefined);
    await proxy.close();
  }
}

/** Whether a refused request was for `url`'s host and port (a CONNECT names no path). */
function sameTarget(refused: string, url: URL): boolean {
  try {
    const r = new URL(refused);
    const port = (u: URL) => u.port || (u.protocol === "https:" ? "443" : "80");
    return r.hostname === url.hostname && port(r) === port(url);
  } catch {
    return false;
  }
}
