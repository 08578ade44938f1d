/**
 * A node's part in schedules: the store (KV `claw_schedules`) the gateway
 * and the `schedule.*` skills use, and — once the node is in the cluster —
 * the scheduler, which fires while this node holds the leader lease.
 */
import { BUCKETS, type Bus } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import type { Logger } from "../log.js";
import { scheduleStore, startScheduler, type Scheduler, type SchedulerEvent, type ScheduleStore } from "../schedules/index.js";
import { failpointsFrom } from "./failpoints.js";

/** The schedules' store, open. */
export async function openNodeSchedules(bus: Bus): Promise<ScheduleStore> {
  return scheduleStore(await bus.kvm.open(BUCKETS.schedules));
}

/** Starts this node's scheduler: it fires while `leading()` says so (`CLAW_SCHEDULE_GRACE_MS`). */
export async function nodeScheduler(bus: Bus, config: ClawConfig, log: Logger, leading: () => boolean): Promise<Scheduler> {
  return startScheduler({
    kv: await bus.kvm.open(BUCKETS.schedules),
    publisher: bus.publisher,
    nodeId: config.nodeId,
    graceMs: config.scheduleGraceMs,
    leading,
    failpoint: failpointsFrom(
      config.failpoints.filter((f) => f.startsWith("schedule.")),
      log,
    ),
    onEvent: (e: SchedulerEvent) => (e.type === "schedule.failed" ? log.warn(e, e.type) : log.info(e, e.type)),
  });
}
