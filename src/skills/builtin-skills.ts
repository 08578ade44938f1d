/**
 * Claw's own skills that run in the node's process (runtime `builtin`):
 * `time.now`, `time.sleep`, `echo`, `http.fetch` (http-fetch.ts), whose
 * network access a node grants host by host (`CLAW_HTTP_FETCH_ALLOW`),
 * `agents.ask` (agents-ask.ts), a turn of another agent, and
 * `schedule.create`, `schedule.list`, `schedule.cancel` (schedule-skills.ts),
 * `browser.open` (browser/), a page rendered by a sandboxed Chromium, whose
 * requests the node grants host by host (`CLAW_BROWSER_ALLOW`),
 * and the hooks `redact.secrets` and `audit.log` (builtin-hooks.ts). The
 * `memory.*` skills are built in too, from src/memory. The
 * skills that run code — `bash`, `fs.*` — live in the top-level `skills/`
 * folder and run in the sandbox.
 */
import { agentsAskSkill, type AgentAsker } from "./agents-ask.js";
import type { ScheduleStore } from "../schedules/index.js";
import { httpFetchSkill, type HttpFetchOptions } from "./http-fetch.js";
import { scheduleSkills } from "./schedule-skills.js";
import { builtinHooks, type AuditSink } from "./builtin-hooks.js";
import { browserOpenSkill, type BrowserOptions } from "./browser/browser-open.js";
import { createHostResolver } from "../net/index.js";
import { SkillFailure, type BuiltinSkill } from "./skill.js";

const builtin = (d: Record<string, unknown> & { id: string; version: string }): BuiltinSkill["descriptor"] => ({ ...d, runtime: "builtin" });

/** `time.now`: the current time, in UTC and (when asked) a time zone. */
export const timeNowSkill: BuiltinSkill = {
  descriptor: builtin({
    id: "time.now",
    version: "1.0.0",
    description: "The current date and time. Optionally in an IANA time zone such as Europe/Berlin.",
    input: {
      type: "object",
      properties: { timezone: { type: "string", description: "IANA time zone name, e.g. Europe/Berlin" } },
      additionalProperties: false,
    },
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

/** Without a node's agents (listing the built-ins' ids), `agents.ask` asks nobody. */
const NO_AGENTS: AgentAsker = {
  maxDepth: 0,
  agent: () => undefined,
  ask: () => Promise.reject(new SkillFailure("unavailable", "this process has no agents to ask")),
};

/** What the node's built-ins act on: its agents (`agents.ask`) and its schedules (`schedule.*`); without them they answer `unavailable`. */
export interface BuiltinDeps {
  asker?: AgentAsker;
  schedules?: ScheduleStore;
  /** what `browser.open` may reach and runs with (absent: it answers `unavailable`) */
  browser?: BrowserOptions;
  /** where the `audit.log` hook records */
  audit?: AuditSink;
}

/** Every in-process built-in, `http.fetch` with the node's allowlist and resolver, `agents.ask` over the node's agents, `schedule.*` on its schedules. */
export function builtinSkills(httpFetch: HttpFetchOptions = { allow: [] }, deps: BuiltinDeps = {}): BuiltinSkill[] {
  return [
    timeNowSkill,
    timeSleepSkill,
    echoSkill,
    httpFetchSkill(httpFetch),
    agentsAskSkill(deps.asker ?? NO_AGENTS),
    ...scheduleSkills(deps.schedules),
    ...builtinHooks(deps.audit),
    browserOpenSkill(deps.browser ?? { allow: [], resolver: createHostResolver(), executable: "/usr/bin/chromium", runnerDir: "" }),
  ];
}
