/**
 * Which occurrences of a schedule are due (src/schedules/schedule.ts): each
 * one at most the grace late is published, in order; older ones were missed
 * while no node ran — `once` publishes the latest of them unless one is due
 * on time, `skip` none — and a one-time schedule is over once dealt with.
 * Cron patterns in a time zone across a DST change are croner's.
 */
import { describe, expect, it } from "vitest";
import { dueAt, everyMs, nextAfter, type Schedule } from "../../src/schedules/schedule.js";

const T0 = Date.parse("2030-03-29T12:00:00Z");
const base = { id: "sc0000000000000000", address: { channel: "t", account: "a", chat: "c" }, text: "hi", created: T0 } as const;
const every = (o: Partial<Schedule> = {}): Schedule => ({ ...base, every: 1_000, missed: "once", ...o });

describe("schedule occurrences", () => {
  it("reads every as a duration or ms", () => {
    expect([everyMs("30s"), everyMs("5m"), everyMs("1h"), everyMs("2d"), everyMs("500ms"), everyMs(1500), everyMs("5 minutes")]).toEqual([
      30_000,
      300_000,
      3_600_000,
      172_800_000,
      500,
      1500,
      undefined,
    ]);
  });

  it("publishes each occurrence due within the grace, in order, and says the next", () => {
    expect(dueAt(every(), T0 + 500, 60_000)).toEqual({ publish: [], done: false, next: T0 + 1_000 });
    expect(dueAt(every(), T0 + 3_200, 60_000)).toEqual({ publish: [T0 + 1_000, T0 + 2_000, T0 + 3_000], last: T0 + 3_000, done: false, next: T0 + 4_000 });
    expect(dueAt(every({ last: T0 + 2_000 }), T0 + 3_200, 60_000).publish).toEqual([T0 + 3_000]);
  });

  it("after a downtime longer than the grace: once fires the latest missed one, skip none, an on-time one stands for the catch-up", () => {
    const s = { ...base, every: 10_000 } as const;
    // due on time: T0+60s (0.5 s late); missed: T0+10s … T0+50s
    expect(dueAt({ ...s, missed: "once" }, T0 + 60_500, 1_000).publish).toEqual([T0 + 60_000]);
    expect(dueAt({ ...s, missed: "skip" }, T0 + 60_500, 1_000).publish).toEqual([T0 + 60_000]);
    // nothing on time: T0+50s is the latest missed
    expect(dueAt({ ...s, missed: "once" }, T0 + 55_000, 1_000)).toMatchObject({ publish: [T0 + 50_000], last: T0 + 50_000 });
    expect(dueAt({ ...s, missed: "skip" }, T0 + 55_000, 1_000)).toMatchObject({ publish: [], last: T0 + 50_000 });
  });

  it("ends a one-time schedule once its occurrence is dealt with", () => {
    const at = (missed: "once" | "skip"): Schedule => ({ ...base, at: T0 + 5_000, missed });
    expect(dueAt(at("once"), T0 + 1_000, 60_000)).toEqual({ publish: [], done: false, next: T0 + 5_000 });
    expect(dueAt(at("once"), T0 + 5_100, 60_000)).toEqual({ publish: [T0 + 5_000], last: T0 + 5_000, done: true, next: undefined });
    expect(dueAt(at("skip"), T0 + 90_000, 60_000)).toEqual({ publish: [], last: T0 + 5_000, done: true, next: undefined });
    expect(dueAt(at("once"), T0 + 90_000, 60_000)).toMatchObject({ publish: [T0 + 5_000], done: true });
    expect(dueAt({ ...at("once"), last: T0 + 5_000 }, T0 + 90_000, 60_000)).toEqual({ publish: [], done: true });
  });

  it("follows a cron pattern in its time zone across the change to summer time", () => {
    // 9:00 Berlin on weekdays: 08:00Z before 29 March 2030 (a Friday), 07:00Z from Monday 1 April
    const s: Schedule = { ...base, cron: "0 9 * * 1-5", tz: "Europe/Berlin", missed: "once", created: Date.parse("2030-03-29T09:00:00Z") };
    const first = nextAfter(s, s.created)!;
    expect(new Date(first).toISOString()).toBe("2030-04-01T07:00:00.000Z");
    expect(new Date(nextAfter(s, Date.parse("2030-03-28T00:00:00Z"))!).toISOString()).toBe("2030-03-28T08:00:00.000Z");
    expect(dueAt(s, first + 200, 60_000)).toMatchObject({ publish: [first], last: first });
  });
});
