/**
 * Where a conversation OpenClaw kept under a session key continues in Claw:
 * with the same user, through the same door.
 *
 * OpenClaw's keys are `agent:<agent>:<rest>` (its session-key docs):
 * `openai-user:<user>` for its `/v1/chat/completions` with `user`,
 * `openresponses-user:<user>` for its `/v1/responses`, `openai:<uuid>`
 * without a user, `<channel>:direct:<peer>` (or `<channel>:<account>:direct:<peer>`)
 * for a direct chat, `<channel>:group|channel|room:<id>`, `main` for the
 * agent's main chat, and `cron:`/`hook:`/`subagent:`/`acp:` sessions no
 * user talks in. OpenClaw lowercases keys: `user: "RC-Alice"` was stored as
 * `rc-alice`, and continues as that.
 */

/** A conversation's place in Claw. */
export type OpenClawTarget =
  /** the HTTP API's session: `user` on `/v1/chat/completions` and `/v1/responses`, `session` on invoke */
  | { kind: "http"; session: string; sender: string }
  /** a chat on a channel (`telegram`, `slack`, …), in OpenClaw's account unless told another */
  | { kind: "chat"; channel: string; account?: string; chat: string; sender: string }
  /** not a conversation with a user */
  | { kind: "skip"; why: string };

type Rule = { match: RegExp; target: (m: RegExpExecArray) => OpenClawTarget };

const http = (session: string, sender = session): OpenClawTarget => ({ kind: "http", session, sender });

/** The rules, tried in order on the key after `agent:<agent>:`. */
const RULES: readonly Rule[] = [
  { match: /^(?:openai|openresponses)-user:(.+)$/, target: (m) => http(m[1]!) },
  // no user was given: each request had its own session, reachable now only by its id
  { match: /^(?:openai|openresponses):(.+)$/, target: (m) => http(m[1]!, "http") },
  { match: /^(cron|hook|subagent|acp|heartbeat)(?::|$)/, target: (m) => ({ kind: "skip", why: `a ${m[1]} session, not a conversation with a user` }) },
  {
    match: /^([a-z0-9_-]+):(?:([^:]+):)?(?:direct|dm):(.+)$/,
    target: (m) => ({ kind: "chat", channel: m[1]!, ...(m[2] ? { account: m[2] } : {}), chat: m[3]!, sender: m[3]! }),
  },
  {
    match: /^([a-z0-9_-]+):(?:([^:]+):)?(?:group|channel|room):(.+)$/,
    target: (m) => ({ kind: "chat", channel: m[1]!, ...(m[2] ? { account: m[2] } : {}), chat: m[3]!, sender: "user" }),
  },
];

/** The OpenClaw agent a key belongs to, and the rest of it. */
export function splitSessionKey(key: string): { agent?: string; rest: string } {
  const m = /^agent:([^:]+):(.+)$/.exec(key);
  return m ? { agent: m[1]!, rest: m[2]! } : { rest: key };
}

/** Where the conversation under `key` continues in Claw. */
export function targetOfSessionKey(key: string): OpenClawTarget {
  const { rest } = splitSessionKey(key);
  for (const r of RULES) {
    const m = r.match.exec(rest);
    if (m) return r.target(m);
  }
  // `main` and anything else: the HTTP session of that name
  return http(rest, "http");
}
