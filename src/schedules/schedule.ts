/**
 * A schedule, as data: a message to put into a chat at a time (`at`), every
 * so often (`every`) or on a cron pattern (`cron`, in a time zone), and which
 * of its occurrences are due — the one piece of arithmetic the firing
 * (scheduler.ts) and the API share. Cron patterns, time zones and DST are
 * croner's (no dependencies, well kept): 5 fields, or 6 with seconds first.
 */
import { Cron } from "croner";
import { z } from "zod";

/** The shortest `every`, and the closest a cron pattern's occurrences may follow each other: bounds the messages one schedule makes. */
export const MIN_INTERVAL_MS = 1_000;
/** How many schedules one agent (or the default routing, without `agent`) may have: a loop of tool calls cannot fill the bucket. */
export const MAX_SCHEDULES_PER_AGENT = 1_000;

const token = z.string().min(1, "must not be empty").max(200);
const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** ISO-8601 with a date, a time and an offset (`Z` or `+02:00`): a time without a zone would be read in the node's. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** `every` in ms: `"30s"`, `"5m"`, `"1h"`, `"2d"`, `"500ms"` or a number of ms; undefined when it is none of these. */
export function everyMs(every: string | number): number | undefined {
  if (typeof every === "number") return Number.isSafeInteger(every) ? every : undefined;
  const m = DURATION.exec(every.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : undefined;
}

/** True when `tz` is an IANA time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** A cron pattern's problem, or undefined when croner takes it and its occurrences are at least {@link MIN_INTERVAL_MS} apart. */
export function cronProblem(pattern: string, tz: string | undefined): string | undefined {
  let c: Cron;
  try {
    c = new Cron(pattern, { timezone: tz, paused: true });
  } catch (e) {
    return (e as Error).message;
  }
  const [a, b] = c.nextRuns(2);
  if (!a) return "has no future occurrence";
  if (b && b.getTime() - a.getTime() < MIN_INTERVAL_MS) return `occurrences closer than ${MIN_INTERVAL_MS} ms apart`;
  return undefined;
}

/** `POST /v1/schedules` (and, without `address`, the `schedule.create` skill's input). */
export const CreateScheduleSchema = z
  .object({
    /** the agent that answers (`metadata.agent`); absent: the chat's routing decides */
    agent: z.string().min(1).max(64).optional(),
    address: z.object({ channel: token, account: token, chat: token }).strict(),
    /** the sender each occurrence comes from (default `schedule:<id>`) */
    sender: z.string().min(1).max(256).optional(),
    text: z.string().min(1, "must not be empty").max(8_000),
    at: z.string().max(64).optional(),
    every: z.union([z.string().max(32), z.number().int()]).optional(),
    cron: z.string().min(1).max(200).optional(),
    tz: z.string().min(1).max(64).optional(),
    missed: z.enum(["once", "skip"]).default("once"),
  })
  .strict()
  .superRefine((s, ctx) => {
    const kinds = (["at", "every", "cron"] as const).filter((k) => s[k] !== undefined);
    if (kinds.length !== 1) {
      const path = kinds.length > 1 ? [kinds[1]!] : ["at"];
      ctx.addIssue({ code: "custom", path, message: "give exactly one of at, every or cron" });
      return;
    }
    if (s.tz !== undefined && !isTimeZone(s.tz)) ctx.addIssue({ code: "custom", path: ["tz"], message: `unknown time zone ${JSON.stringify(s.tz)}` });
    if (s.tz !== undefined && s.cron === undefined) ctx.addIssue({ code: "custom", path: ["tz"], message: "tz applies to cron only (at carries its offset)" });
    if (s.at !== undefined) {
      const t = ISO_INSTANT.test(s.at) ? Date.parse(s.at) : NaN;
      if (Number.isNaN(t)) ctx.addIssue({ code: "custom", path: ["at"], message: "an ISO-8601 time with its offset, e.g. 2030-01-01T09:00:00+01:00" });
      else if (t < Date.now()) ctx.addIssue({ code: "custom", path: ["at"], message: "is in the past" });
    }
    if (s.every !== undefined) {
      const ms = everyMs(s.every);
      if (ms === undefined) ctx.addIssue({ code: "custom", path: ["every"], message: 'a duration such as "30s", "5m", "1h", "1d", or a number of ms' });
      else if (ms < MIN_INTERVAL_MS) ctx.addIssue({ code: "custom", path: ["every"], message: `at least ${MIN_INTERVAL_MS} ms` });
    }
    if (s.cron !== undefined && (s.tz === undefined || isTimeZone(s.tz))) {
      const why = cronProblem(s.cron, s.tz);
      if (why) ctx.addIssue({ code: "custom", path: ["cron"], message: why });
    }
  });
export type CreateSchedule = z.infer<typeof CreateScheduleSchema>;

/** A stored schedule (KV `claw_schedules`, `s.<id>`). */
export interface Schedule {
  id: string;
  agent?: string;
  address: { channel: string; account: string; chat: string };
  sender?: string;
  text: string;
  /** ms since the epoch, for `at` */
  at?: number;
  /** ms, for `every` (occurrences at `created + k·every`) */
  every?: number;
  cron?: string;
  tz?: string;
  missed: "once" | "skip";
  created: number;
  /** who made it: `http` (the API) or `agent:<id>` (its tool call) */
  by?: string;
  /** the last occurrence fired (or skipped), ms since the epoch */
  last?: number;
}

/** A stored schedule from what `input` asked, made at `now`. */
export function scheduleOf(id: string, input: CreateSchedule, now: number, by?: string): Schedule {
  return {
    id,
    ...(input.agent ? { agent: input.agent } : {}),
    address: input.address,
    ...(input.sender ? { sender: input.sender } : {}),
    text: input.text,
    ...(input.at !== undefined ? { at: Date.parse(input.at) } : {}),
    ...(input.every !== undefined ? { every: everyMs(input.every)! } : {}),
    ...(input.cron !== undefined ? { cron: input.cron, ...(input.tz ? { tz: input.tz } : {}) } : {}),
    missed: input.missed,
    created: now,
    ...(by ? { by } : {}),
  };
}

/** Reads a stored schedule; undefined for what is not one. */
export function decodeSchedule(value: Uint8Array): Schedule | undefined {
  try {
    const s = JSON.parse(new TextDecoder().decode(value)) as Schedule;
    const kinds = [s.at, s.every, s.cron].filter((k) => k !== undefined).length;
    return typeof s.id === "string" && typeof s.text === "string" && typeof s.address?.chat === "string" && kinds === 1 ? s : undefined;
  } catch {
    return undefined;
  }
}

const crons = new Map<string, Cron>();
function cronOf(s: Schedule): Cron {
  const key = `${s.tz ?? ""} ${s.cron}`;
  let c = crons.get(key);
  if (!c) {
    if (crons.size > 10_000) crons.clear();
    c = new Cron(s.cron!, { timezone: s.tz, paused: true });
    crons.set(key, c);
  }
  return c;
}

/** The first occurrence of `s` strictly after `t` (ms), or undefined when it has none. */
export function nextAfter(s: Schedule, t: number): number | undefined {
  if (s.at !== undefined) return s.at > t ? s.at : undefined;
  if (s.every !== undefined) return t < s.created ? s.created + s.every : s.created + (Math.floor((t - s.created) / s.every) + 1) * s.every;
  return cronOf(s).nextRun(new Date(t))?.getTime();
}

/** The last occurrence of `s` at or before `t` and after `after`, or undefined. */
function latestAtOrBefore(s: Schedule, t: number, after: number): number | undefined {
  let latest: number | undefined;
  if (s.at !== undefined) latest = s.at;
  else if (s.every !== undefined) latest = s.created + Math.floor((t - s.created) / s.every) * s.every;
  else
    latest = cronOf(s)
      .previousRuns(1, new Date(t + 1))[0]
      ?.getTime();
  return latest !== undefined && latest > after && latest <= t ? latest : undefined;
}

/** What is due of a schedule now: the occurrences to publish (in order), and the one to record as its last. */
export interface Due {
  publish: number[];
  /** the last occurrence dealt with (published or skipped); undefined when nothing is due */
  last?: number;
  /** no occurrence after `last`: the schedule is over */
  done: boolean;
  /** when the next one is due, if any */
  next?: number;
}

/** At most this many occurrences are published in one pass (an `every: 1s` schedule after a leader change of a few seconds has a few). */
const MAX_PER_PASS = 100;

/**
 * What is due of `s` at `now`. Occurrences at most `graceMs` late (missed
 * while the leadership moved) are each published; older ones were missed
 * while no node ran: `missed: "once"` publishes the latest of them (unless
 * one is due on time anyway), `"skip"` none.
 */
export function dueAt(s: Schedule, now: number, graceMs: number): Due {
  const after = s.last ?? s.created - 1;
  const first = nextAfter(s, after);
  if (first === undefined) return { publish: [], done: true };
  if (first > now) return { publish: [], done: false, next: first };
  const onTimeFrom = now - graceMs;
  // missed while no node fired: the latest of those is the one catch-up (`once`), or recorded as skipped
  const late = first < onTimeFrom ? latestAtOrBefore(s, onTimeFrom - 1, after) : undefined;
  const onTime: number[] = [];
  for (let t = nextAfter(s, late ?? after); t !== undefined && t <= now && onTime.length < MAX_PER_PASS; t = nextAfter(s, t)) onTime.push(t);
  // an occurrence due on time stands for the catch-up
  const publish = onTime.length > 0 ? onTime : late !== undefined && s.missed === "once" ? [late] : [];
  const last = onTime.at(-1) ?? late;
  const next = last === undefined ? undefined : nextAfter(s, last);
  return { publish, last, done: next === undefined, next };
}

/** The message id of one occurrence (its `Nats-Msg-Id` too): `<schedule id>:<occurrence as ISO-8601>`. */
export function occurrenceId(id: string, occurrence: number): string {
  return `${id}:${new Date(occurrence).toISOString()}`;
}
