/**
 * The schedules, kept in KV `claw_schedules` (`s.<id>`): made by the API
 * and by agents' `schedule.create`, read by every node, fired by the
 * leader (scheduler.ts), which records each one's last occurrence in its
 * entry with a compare-and-set.
 */
import { createHash, randomBytes } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { decodeSchedule, MAX_SCHEDULES_PER_AGENT, scheduleOf, type CreateSchedule, type Schedule } from "./schedule.js";

/** A schedule's id: `sc` and 16 lower-case letters or digits. */
export const SCHEDULE_ID = /^sc[a-z0-9]{16}$/;

/** The key of a schedule in the bucket. */
export const scheduleKey = (id: string) => `s.${id}`;

/** Refused: the agent has {@link MAX_SCHEDULES_PER_AGENT} schedules already. */
export class ScheduleLimitError extends Error {
  readonly code = "too_many_schedules";
  constructor(readonly agent: string | undefined) {
    super(`${agent ? `agent ${agent}` : "the default routing"} has ${MAX_SCHEDULES_PER_AGENT} schedules already (the most one agent may have)`);
    this.name = "ScheduleLimitError";
  }
}

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
const idOf = (bytes: Uint8Array) => `sc${Array.from(bytes.subarray(0, 16), (b) => ALPHABET[b % 36]).join("")}`;

/** The schedules in the bucket. */
export interface ScheduleStore {
  /**
   * Stores a new schedule. `key` makes it idempotent: the same key (a tool
   * call's invocation id, the same when its turn runs again) gives the same
   * schedule, made once.
   * @throws {@link ScheduleLimitError}
   */
  create(input: CreateSchedule, o?: { key?: string; by?: string }): Promise<{ schedule: Schedule; created: boolean }>;
  /** every schedule, oldest first */
  list(): Promise<Schedule[]>;
  get(id: string): Promise<Schedule | undefined>;
  /** false when there was none */
  remove(id: string): Promise<boolean>;
}

/** The schedules of `kv` (`claw_schedules`). */
export function scheduleStore(kv: KV): ScheduleStore {
  const get = async (id: string) => {
    if (!SCHEDULE_ID.test(id)) return undefined;
    const e = await kv.get(scheduleKey(id));
    return e && e.operation === "PUT" ? decodeSchedule(e.value) : undefined;
  };
  const list = async () => {
    const ids: string[] = [];
    for await (const k of await kv.keys("s.*")) ids.push(k.slice(2));
    const all = await Promise.all(ids.map(get));
    return all.filter((s): s is Schedule => s !== undefined).sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
  };
  return {
    get,
    list,
    async create(input, o = {}) {
      const id = idOf(o.key ? createHash("sha256").update(o.key).digest() : randomBytes(16));
      const existing = o.key ? await get(id) : undefined;
      if (existing) return { schedule: existing, created: false };
      if ((await list()).filter((s) => s.agent === input.agent).length >= MAX_SCHEDULES_PER_AGENT) throw new ScheduleLimitError(input.agent);
      const schedule = scheduleOf(id, input, Date.now(), o.by);
      try {
        await kv.create(scheduleKey(id), JSON.stringify(schedule));
      } catch (e) {
        // the same key's schedule, made by a run of the same call a moment ago
        const made = o.key ? await get(id) : undefined;
        if (made) return { schedule: made, created: false };
        throw e;
      }
      return { schedule, created: true };
    },
    async remove(id) {
      if (!(await get(id))) return false;
      await kv.delete(scheduleKey(id));
      return true;
    },
  };
}
