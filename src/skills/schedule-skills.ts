/**
 * Agents schedule for themselves: `schedule.create` (a message back into
 * the calling chat, to the calling agent, at a time, every so often or on a
 * cron pattern), `schedule.list` (the calling chat's) and `schedule.cancel`.
 * A create is made once however often its turn runs again: the schedule's
 * id derives from the tool call's invocation id.
 */
import { decodeToken } from "../bus/index.js";
import { CreateScheduleSchema, nextAfter, ScheduleLimitError, type Schedule, type ScheduleStore } from "../schedules/index.js";
import { describeError, issueText } from "../schema-issues.js";
import { SkillFailure, type BuiltinSkill, type SkillContext } from "./skill.js";

const builtin = (d: Record<string, unknown> & { id: string; version: string }): BuiltinSkill["descriptor"] => ({ ...d, runtime: "builtin", idempotent: true });

/** The calling agent and chat, or a failure when no session called (an HTTP invoke has no chat to schedule into). */
function callerOf(ctx: SkillContext): { agent: string; address: NonNullable<SkillContext["invocation"]["address"]> } {
  const { session, address } = ctx.invocation;
  if (!session || !address) throw new SkillFailure("no_session", "schedules are made from an agent's turn: there is no calling chat to schedule into");
  return { agent: decodeToken(session.split(".")[0]!), address };
}

const sameChat = (s: Schedule, c: ReturnType<typeof callerOf>) =>
  s.address.channel === c.address.channel && s.address.account === c.address.account && s.address.chat === c.address.chat;

/** What an agent is told of a schedule. */
function shown(s: Schedule) {
  const next = nextAfter(s, s.last ?? s.created - 1);
  const when = s.at !== undefined ? { at: new Date(s.at).toISOString() } : s.every !== undefined ? { every: `${s.every / 1000}s` } : { cron: s.cron, tz: s.tz };
  return { id: s.id, text: s.text, ...when, next: next === undefined ? null : new Date(next).toISOString() };
}

const WHEN = {
  at: { type: "string", description: "one time, ISO-8601 with its offset, e.g. 2030-01-01T09:00:00+01:00" },
  every: { type: "string", description: 'a repeat interval: "30s", "5m", "1h", "1d" (at least 1s)' },
  cron: { type: "string", description: 'a cron pattern (minute hour day month weekday, or seconds first), e.g. "0 9 * * 1-5"' },
  tz: { type: "string", description: "IANA time zone of the cron pattern, e.g. Europe/Berlin (default UTC)" },
};

/** `schedule.create`, `schedule.list`, `schedule.cancel` on `store` (without one — the registry's list of ids — they refuse to run). */
export function scheduleSkills(store: ScheduleStore | undefined): BuiltinSkill[] {
  const schedules = (): ScheduleStore => {
    if (!store) throw new SkillFailure("unavailable", "this node keeps no schedules");
    return store;
  };
  const create: BuiltinSkill = {
    descriptor: builtin({
      id: "schedule.create",
      version: "1.0.0",
      description:
        "Schedules a message to yourself in this chat: once (at), repeatedly (every) or on a cron pattern (cron, tz). When it is due you receive " +
        "text as a message and answer it then. Give exactly one of at, every, cron.",
      input: {
        type: "object",
        properties: { text: { type: "string", description: "what you will be told when it is due" }, ...WHEN },
        required: ["text"],
        additionalProperties: false,
      },
    }),
    async run(input, ctx) {
      const caller = callerOf(ctx);
      const r = CreateScheduleSchema.safeParse({ ...(input as object), agent: caller.agent, address: caller.address });
      if (!r.success) throw new SkillFailure("invalid_input", issueText(describeError(r.error, CreateScheduleSchema)));
      try {
        const { schedule } = await schedules().create(r.data, { key: ctx.invocation.id, by: `agent:${caller.agent}` });
        return shown(schedule);
      } catch (e) {
        if (e instanceof ScheduleLimitError) throw new SkillFailure(e.code, e.message);
        throw e;
      }
    },
  };
  const list: BuiltinSkill = {
    descriptor: builtin({
      id: "schedule.list",
      version: "1.0.0",
      description: "Lists the schedules of this chat (yours and others'), with when each fires next.",
      input: { type: "object", properties: {}, additionalProperties: false },
    }),
    async run(_input, ctx) {
      const caller = callerOf(ctx);
      return { schedules: (await schedules().list()).filter((s) => sameChat(s, caller)).map(shown) };
    },
  };
  const cancel: BuiltinSkill = {
    descriptor: builtin({
      id: "schedule.cancel",
      version: "1.0.0",
      description: "Cancels a schedule of this chat by its id (from schedule.create or schedule.list).",
      input: { type: "object", properties: { id: { type: "string" } }, required: ["id"], additionalProperties: false },
    }),
    async run(input, ctx) {
      const caller = callerOf(ctx);
      const id = (input as { id: string }).id;
      const s = await schedules().get(id);
      // another chat's schedule is none of this one's business: not found either way
      if (!s || !sameChat(s, caller)) throw new SkillFailure("not_found", `this chat has no schedule ${id}`);
      await schedules().remove(id);
      return { cancelled: id };
    },
  };
  return [create, list, cancel];
}
