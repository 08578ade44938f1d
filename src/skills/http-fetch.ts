/**
 * `http.fetch`, Claw's built-in skill for the web, granted host by host
 * (fetch-allowlist.ts). Every hop — redirects are followed here, at most
 * {@link MAX_REDIRECTS} — is checked again: on the allowlist, and resolved
 * once to addresses on the public internet (unless its host is named
 * exactly) that are the only ones connected to (src/net: no second DNS
 * answer is ever used). A redirect to another origin drops the caller's
 * credentials. The body is read as it streams and the connection is cut at
 * {@link MAX_BODY_BYTES}: a huge (or endless) response costs no memory.
 */
import type { Dispatcher } from "undici";
import { createHostResolver, loadUndici, pinnedAgent, pinTarget, PrivateAddressError, type HostResolver } from "../net/index.js";
import { fetchAllowlist } from "./fetch-allowlist.js";
import { SkillFailure, type BuiltinSkill } from "./skill.js";

/** The most of a response body a call returns (the rest is never read). */
export const MAX_BODY_BYTES = 256 * 1024;
/** Redirects followed before the call fails. */
export const MAX_REDIRECTS = 5;

/** Headers that carry the caller's identity: never sent on to another origin. */
const CREDENTIALS = new Set(["authorization", "cookie", "proxy-authorization"]);

/** Options of {@link httpFetchSkill}. */
export interface HttpFetchOptions {
  /** `CLAW_HTTP_FETCH_ALLOW`'s entries */
  allow: readonly string[];
  /** how hosts are resolved (default: the system's resolver) */
  resolver?: HostResolver;
}

interface FetchInput {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Stops reading `body` and cuts its connection (undici reports that as an error on the stream: expected, so taken here). */
function discard(body: Dispatcher.ResponseData["body"]): void {
  body.on("error", () => undefined);
  body.destroy();
}

/** The first `max` bytes of `body`, as text; the stream is destroyed (the connection cut) once they are in. */
async function readAtMost(body: Dispatcher.ResponseData["body"], max: number): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    if (size + b.length > max) {
      chunks.push(b.subarray(0, max - size));
      truncated = true;
      break;
    }
    chunks.push(b);
    size += b.length;
  }
  if (truncated) discard(body);
  return { text: new TextDecoder().decode(Buffer.concat(chunks)), truncated };
}

const headerText = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(", ") : v);

/** `http.fetch` with the node's allowlist. */
export function httpFetchSkill(o: HttpFetchOptions): BuiltinSkill {
  const allow = fetchAllowlist(o.allow);
  const resolver = o.resolver ?? createHostResolver();
  const listed = allow.entries.length > 0 ? o.allow.map((e) => e.trim()).filter(Boolean) : [];

  /** The checked, pinned target of one hop, or a refusal. */
  async function admit(url: URL, signal: AbortSignal) {
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new SkillFailure("denied", `only http and https: ${url.protocol}`);
    const admitted = allow.admits(url);
    if (!admitted.allowed) {
      throw new SkillFailure(
        "denied",
        listed.length
          ? `${url.host} is not among the hosts this node allows (CLAW_HTTP_FETCH_ALLOW=${listed.join(",")})`
          : `no host is allowed: set CLAW_HTTP_FETCH_ALLOW on the node (e.g. api.example.com,*.wikipedia.org)`,
      );
    }
    try {
      return await pinTarget(url, { resolver, allowPrivate: admitted.privateAllowed, signal });
    } catch (e) {
      if (e instanceof PrivateAddressError)
        throw new SkillFailure("denied", `${e.message}; name the host exactly in CLAW_HTTP_FETCH_ALLOW (with its port, e.g. ${url.host}) to allow it`, {
          cause: e,
        });
      throw e;
    }
  }

  return {
    descriptor: {
      id: "http.fetch",
      version: "1.0.0",
      runtime: "builtin",
      description:
        `Fetches a URL (GET unless a method is given) from the hosts the node allows, and returns its status, headers and text (at most ` +
        `${MAX_BODY_BYTES / 1024} KB; truncated says when there was more).`,
      input: {
        type: "object",
        properties: {
          url: { type: "string" },
          method: { type: "string", enum: ["GET", "POST", "PUT", "DELETE", "HEAD"] },
          headers: { type: "object", additionalProperties: { type: "string" } },
          body: { type: "string" },
        },
        required: ["url"],
      },
      output: { type: "object", required: ["status", "url", "headers", "body", "truncated"] },
      permissions: { network: { allow: listed.length ? listed : ["none.invalid"] } },
      limits: { timeoutMs: 30_000 },
    },
    async run(input, ctx) {
      const i = input as FetchInput;
      let url: URL;
      try {
        url = new URL(i.url);
      } catch {
        throw new SkillFailure("invalid_input", `input.url: not a URL: ${i.url}`);
      }
      let method = i.method ?? "GET";
      let body = i.body;
      let headers: Record<string, string> = { "user-agent": "claw-http-fetch", ...i.headers };
      for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
        const target = await admit(url, ctx.signal);
        // one agent per hop, pinned to this hop's checked addresses
        const agent = await pinnedAgent(target);
        const { errors: undiciErrors, request } = await loadUndici();
        try {
          const res = await request(url, { method: method as Dispatcher.HttpMethod, headers, body, dispatcher: agent, signal: ctx.signal }).catch(
            (e: unknown) => {
              if (e instanceof undiciErrors.InvalidArgumentError || e instanceof undiciErrors.NotSupportedError)
                throw new SkillFailure("invalid_input", `input: ${(e as Error).message}`, { cause: e });
              throw e;
            },
          );
          const location = headerText(res.headers.location);
          if (res.statusCode >= 300 && res.statusCode < 400 && location) {
            discard(res.body);
            let next: URL;
            try {
              next = new URL(location, url);
            } catch {
              throw new SkillFailure("exit", `${url.host} redirected to something that is not a URL: ${location}`);
            }
            // credentials were meant for the origin they were given for, not for wherever it redirects
            if (next.origin !== url.origin) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !CREDENTIALS.has(k.toLowerCase())));
            // as browsers do: 303 (and 301/302 after a POST) continue as a GET without the body
            if ((res.statusCode === 303 && method !== "HEAD") || ((res.statusCode === 301 || res.statusCode === 302) && method === "POST")) {
              method = "GET";
              body = undefined;
              headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^content-(type|length)$/i.test(k)));
            }
            url = next;
            continue;
          }
          const { text, truncated } = await readAtMost(res.body, MAX_BODY_BYTES);
          const responseHeaders = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, headerText(v) ?? ""]));
          return { status: res.statusCode, url: url.toString(), headers: responseHeaders, body: text, truncated };
        } finally {
          void agent.destroy().catch(() => undefined);
        }
      }
      throw new SkillFailure("exit", `more than ${MAX_REDIRECTS} redirects`);
    },
  };
}
