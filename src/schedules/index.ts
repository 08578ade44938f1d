/** Schedules: messages put into a chat at a time, every so often, or on a cron pattern. */
export {
  CreateScheduleSchema,
  decodeSchedule,
  dueAt,
  everyMs,
  MAX_SCHEDULES_PER_AGENT,
  MIN_INTERVAL_MS,
  nextAfter,
  occurrenceId,
  type CreateSchedule,
  type Due,
  type Schedule,
} from "./schedule.js";
export { occurrenceMessage, startScheduler, type Scheduler, type SchedulerEvent, type SchedulerOptions } from "./scheduler.js";
export { SCHEDULE_ID, scheduleKey, ScheduleLimitError, scheduleStore, type ScheduleStore } from "./store.js";
export { scheduleView, ScheduleViewSchema, type ScheduleView } from "./schedule-view.js";
