/**
 * Skills built into every node, run in process: `time.now`, `time.sleep` and `echo`. They
 * let an agent's tool calls go the whole way (published durably on
 * `claw.skill.<id>.invoke`, run by a worker, answered into the session's
 * mailbox) with nothing installed.
 */
import type { Skill } from "./skill.js";

/** `time.now`: the current time, in UTC and (when asked) a time zone. */
export const timeNowSkill: Skill = {
  id: "time.now",
  version: "1.0.0",
  description: "The current date and time. Optionally in an IANA time zone such as Europe/Berlin.",
  input: {
    type: "object",
    properties: { timezone: { type: "string", description: "IANA time zone name, e.g. Europe/Berlin" } },
    additionalProperties: false,
  },
  async run(input) {
    const now = new Date();
    const tz = (input as { timezone?: string } | undefined)?.timezone;
    const local = tz ? new Intl.DateTimeFormat("en-GB", { timeZone: tz, dateStyle: "full", timeStyle: "long" }).format(now) : undefined;
    return { iso: now.toISOString(), epochMs: now.getTime(), ...(tz ? { timezone: tz, local } : {}) };
  },
};

/** `echo`: answers with its input (for trying the tool loop). */
export const echoSkill: Skill = {
  id: "echo",
  version: "1.0.0",
  description: "Returns its input unchanged.",
  input: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
  async run(input) {
    return input;
  },
};

/** `time.sleep`: waits, then says how long (for trying tools that take a while, and turns that suspend). */
export const timeSleepSkill: Skill = {
  id: "time.sleep",
  version: "1.0.0",
  description: "Waits the given number of milliseconds (at most 60000), then answers.",
  input: { type: "object", properties: { ms: { type: "integer", minimum: 0, maximum: 60_000 } }, required: ["ms"] },
  run(input, ctx) {
    const ms = (input as { ms: number }).ms;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => resolve({ slept: ms }), ms);
      ctx.signal.addEventListener("abort", () => (clearTimeout(t), reject(ctx.signal.reason)), { once: true });
    });
  },
};

/** Every built-in skill. */
export function builtinSkills(): Skill[] {
  return [timeNowSkill, timeSleepSkill, echoSkill];
}
