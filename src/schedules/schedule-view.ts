/** A schedule as the API (and the CLI) shows it. */
import { z } from "zod";
import { nextAfter, type Schedule } from "./schedule.js";

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** A schedule as the API shows it: times in ISO-8601, and when it fires next (null: never again). */
export const ScheduleViewSchema = z.object({
  id: z.string(),
  agent: z.string().optional(),
  address: z.object({ channel: z.string(), account: z.string(), chat: z.string() }),
  sender: z.string().optional(),
  text: z.string(),
  at: z.string().optional(),
  every: z.number().optional(),
  cron: z.string().optional(),
  tz: z.string().optional(),
  missed: z.enum(["once", "skip"]),
  created: z.string(),
  by: z.string().optional(),
  last: z.string().optional(),
  next: z.string().nullable(),
});
export type ScheduleView = z.infer<typeof ScheduleViewSchema>;

/** The view of `s`. */
export function scheduleView(s: Schedule): ScheduleView {
  const { at, created, last, ...rest } = s;
  const next = nextAfter(s, last ?? created - 1);
  return JSON.parse(JSON.stringify({ ...rest, at: iso(at), created: iso(created)!, last: iso(last), next: iso(next) ?? null })) as ScheduleView;
}
