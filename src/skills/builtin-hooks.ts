/**
 * Claw's own hooks (skill-hooks.ts), built in:
 * - `redact.secrets`: masks what looks like an API key, a token, a private
 *   key or a password assignment in a call's output (as an `after` hook) or
 *   input (as a `before` hook) — so a tool that prints the environment does
 *   not hand a key to the model, the transcript and the chat;
 * - `audit.log`: records the call (agent, session, skill, and the input or
 *   output, cut short) in the audit stream (`CLAW_AUDIT`) and lets it through.
 */
import type { BuiltinSkill } from "./skill.js";

/** Where `audit.log` records (the node's audit trail, `CLAW_AUDIT`). */
export interface AuditSink {
  record(r: { who: string; what: string; from: string; outcome: string; detail?: string }): void;
}

/** What looks like a secret: provider keys, platform tokens, JWTs, private keys, `password=…` and the like. */
const SECRET_PATTERNS: readonly RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
  /\b(?:sk|pk|rk)-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_]{16,}\b/g,
  /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g,
  /\bxox[abposr]-[A-Za-z0-9-]{10,}\b/g,
  /\bxapp-[A-Za-z0-9-]{10,}\b/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
  /\bAIza[0-9A-Za-z_-]{35}\b/g,
  /\b\d{6,12}:[A-Za-z0-9_-]{30,}\b/g,
  /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b/g,
  /\bBearer\s+[A-Za-z0-9._~+/-]{16,}=*/g,
];
/** `key=value` and `"key": "value"` where the key names a secret: the value is masked, the key kept. */
const ASSIGNMENT = /\b((?:[A-Za-z0-9_]*?)(?:api[_-]?key|secret|token|password|passwd|credential)s?["']?\s*[:=]\s*["']?)([^\s"',;}]{6,})/gi;

export const REDACTED = "[REDACTED]";

/** `text` with what looks like a secret masked. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const p of SECRET_PATTERNS) out = out.replace(p, REDACTED);
  return out.replace(ASSIGNMENT, (_m, key: string, value: string) => (value === REDACTED ? `${key}${value}` : `${key}${REDACTED}`));
}

/** Every string in `v` (keys kept) redacted. */
export function redactValue(v: unknown, depth = 0): unknown {
  if (typeof v === "string") return redactSecrets(v);
  if (depth > 64 || v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => redactValue(x, depth + 1));
  const keyed = Object.entries(v as Record<string, unknown>).map(([k, x]) => [
    k,
    typeof x === "string" && /(api[_-]?key|secret|token|password|passwd|credential)/i.test(k) && x.length >= 6 ? REDACTED : redactValue(x, depth + 1),
  ]);
  return Object.fromEntries(keyed);
}

const hookInput = {
  type: "object",
  properties: {
    skill: { type: "string" },
    input: {},
    output: {},
    session: { type: "string" },
    agent: { type: "string" },
  },
  required: ["skill", "agent"],
};
const hook = (id: string, description: string): BuiltinSkill["descriptor"] => ({
  id,
  version: "1.0.0",
  runtime: "builtin",
  description,
  input: hookInput,
  limits: { timeoutMs: 10_000 },
  idempotent: true,
});

/** The call a hook is given. */
type HookInput = { skill: string; input?: unknown; output?: unknown; session?: string; agent: string };
/** A hook's answer letting the call through: the input before it runs, the output after. */
const passOn = (h: HookInput, f: (v: unknown) => unknown) => ("output" in h ? { output: f(h.output) } : { input: f(h.input) });

/** `redact.secrets` and `audit.log` (the latter records into `audit`, when the node gives it one). */
export function builtinHooks(audit?: AuditSink): BuiltinSkill[] {
  return [
    {
      descriptor: hook("redact.secrets", "A hook: masks API keys, tokens, private keys and passwords in a tool's output (after) or input (before)."),
      async run(input) {
        return passOn(input as HookInput, redactValue);
      },
    },
    {
      descriptor: hook("audit.log", "A hook: records the tool call in the audit stream (CLAW_AUDIT) and lets it through."),
      async run(input) {
        const h = input as HookInput;
        const after = "output" in h;
        const shown = JSON.stringify(after ? h.output : h.input) ?? "";
        audit?.record({
          who: `agent:${h.agent}`,
          what: `skill ${h.skill} (${after ? "after" : "before"})`,
          from: h.session ?? "",
          outcome: "ok",
          detail: shown.length > 500 ? `${shown.slice(0, 500)}…` : shown,
        });
        return passOn(h, (v) => v);
      },
    },
  ];
}
