/**
 * Claw's own skills that run in the node's process (runtime `builtin`):
 * `time.now`, `time.sleep`, `echo`, and `http.fetch`, whose network access a
 * node grants host by host (`CLAW_HTTP_FETCH_ALLOW`): no other host, no
 * redirect to one, and no private or loopback address unless listed. The
 * skills that run code — `bash`, `fs.*` — live in the top-level `skills/`
 * folder and run in the sandbox.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { SkillFailure, type BuiltinSkill } from "./skill.js";

const builtin = (d: Record<string, unknown> & { id: string; version: string }): BuiltinSkill["descriptor"] => ({ ...d, runtime: "builtin" });

/** `time.now`: the current time, in UTC and (when asked) a time zone. */
export const timeNowSkill: BuiltinSkill = {
  descriptor: builtin({
    id: "time.now",
    version: "1.0.0",
    description: "The current date and time. Optionally in an IANA time zone such as Europe/Berlin.",
    input: { type: "object", properties: { timezone: { type: "string", description: "IANA time zone name, e.g. Europe/Berlin" } }, additionalProperties: false },
    output: { type: "object", required: ["iso", "epochMs"] },
    idempotent: true,
  }),
  async run(input) {
    const now = new Date();
    const tz = (input as { timezone?: string } | undefined)?.timezone;
    let local: string | undefined;
    try {
      local = tz ? new Intl.DateTimeFormat("en-GB", { timeZone: tz, dateStyle: "full", timeStyle: "long" }).format(now) : undefined;
    } catch {
      throw new SkillFailure("exit", `unknown time zone ${tz}`);
    }
    return { iso: now.toISOString(), epochMs: now.getTime(), ...(tz ? { timezone: tz, local } : {}) };
  },
};

/** `time.sleep`: waits, then says how long (for trying tools that take a while, and turns that suspend). */
export const timeSleepSkill: BuiltinSkill = {
  descriptor: builtin({
    id: "time.sleep",
    version: "1.0.0",
    description: "Waits the given number of milliseconds (at most 60000), then answers.",
    input: { type: "object", properties: { ms: { type: "integer", minimum: 0, maximum: 60_000 } }, required: ["ms"] },
    limits: { timeoutMs: 65_000 },
    idempotent: true,
  }),
  run(input, ctx) {
    const ms = (input as { ms: number }).ms;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => resolve({ slept: ms }), ms);
      ctx.signal.addEventListener("abort", () => (clearTimeout(t), reject(ctx.signal.reason)), { once: true });
    });
  },
};

/** `echo`: answers with its input (for trying the tool loop). */
export const echoSkill: BuiltinSkill = {
  descriptor: builtin({
    id: "echo",
    version: "1.0.0",
    description: "Returns its input unchanged.",
    input: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
    idempotent: true,
  }),
  async run(input) {
    return input;
  },
};

const PRIVATE = [/^127\./, /^10\./, /^192\.168\./, /^172\.(1[6-9]|2\d|3[01])\./, /^169\.254\./, /^0\./, /^::1$/, /^f[cd]/i, /^fe80:/i, /^::$/, /^::ffff:(127|10|192\.168|169\.254)\./i];
const MAX_BODY = 256 * 1024;
const MAX_REDIRECTS = 5;

/** True when `host` (with its port, when the pattern has one) is on the allowlist (`*.example.com` covers subdomains). */
export function hostAllowed(allow: readonly string[], url: URL): boolean {
  return allow.some((p) => {
    const [pattern, port] = p.split(":");
    if (port && port !== (url.port || (url.protocol === "https:" ? "443" : "80"))) return false;
    if (pattern!.startsWith("*.")) return url.hostname.endsWith(pattern!.slice(1));
    return url.hostname === pattern;
  });
}

/**
 * `http.fetch`, granted host by host: every hop (redirects are followed by
 * hand) must be on `allow`, and must not resolve to a private or loopback
 * address unless its host is listed by name.
 */
export function httpFetchSkill(allow: readonly string[]): BuiltinSkill {
  async function check(url: URL): Promise<void> {
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new SkillFailure("denied", `only http and https: ${url.protocol}`);
    if (!hostAllowed(allow, url)) {
      throw new SkillFailure("denied", allow.length ? `${url.hostname} is not among the hosts this node allows (CLAW_HTTP_FETCH_ALLOW=${allow.join(",")})` : `no host is allowed: set CLAW_HTTP_FETCH_ALLOW on the node (e.g. api.example.com,*.wikipedia.org)`);
    }
    const addresses = isIP(url.hostname) ? [url.hostname] : (await lookup(url.hostname, { all: true })).map((a) => a.address);
    const listedByAddress = allow.includes(url.hostname);
    if (!listedByAddress && addresses.some((a) => PRIVATE.some((r) => r.test(a)))) {
      throw new SkillFailure("denied", `${url.hostname} resolves to a private or loopback address (${addresses.join(", ")}); list it explicitly to allow it`);
    }
  }
  return {
    descriptor: builtin({
      id: "http.fetch",
      version: "1.0.0",
      description: "Fetches a URL (GET unless a method is given) from the hosts the node allows, and returns its status, headers and text (at most 256 KB).",
      input: {
        type: "object",
        properties: { url: { type: "string" }, method: { type: "string", enum: ["GET", "POST", "PUT", "DELETE", "HEAD"] }, headers: { type: "object", additionalProperties: { type: "string" } }, body: { type: "string" } },
        required: ["url"],
      },
      permissions: { network: { allow: allow.length ? [...allow] : ["none.invalid"] } },
      limits: { timeoutMs: 30_000 },
    }),
    async run(input, ctx) {
      const i = input as { url: string; method?: string; headers?: Record<string, string>; body?: string };
      let url: URL;
      try {
        url = new URL(i.url);
      } catch {
        throw new SkillFailure("invalid_input", `input.url: not a URL: ${i.url}`);
      }
      for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
        await check(url);
        const res = await fetch(url, { method: i.method ?? "GET", headers: i.headers, body: i.body, redirect: "manual", signal: ctx.signal });
        const location = res.headers.get("location");
        if (res.status >= 300 && res.status < 400 && location) {
          url = new URL(location, url);
          continue;
        }
        const text = (await res.text()).slice(0, MAX_BODY);
        return { status: res.status, url: url.toString(), headers: Object.fromEntries(res.headers), body: text };
      }
      throw new SkillFailure("exit", `more than ${MAX_REDIRECTS} redirects`);
    },
  };
}

/** Every in-process built-in, `http.fetch` with the node's allowlist. */
export function builtinSkills(httpFetchAllow: readonly string[] = []): BuiltinSkill[] {
  return [timeNowSkill, timeSleepSkill, echoSkill, httpFetchSkill(httpFetchAllow)];
}
