/**
 * Firing the schedules: the leader (while its lease is surely valid) looks
 * at every schedule a few times a second and publishes each occurrence due
 * into its chat, `claw.in.<channel>.<account>.<chat>`, as an inbound message
 * whose id — and `Nats-Msg-Id` — is `<schedule id>:<occurrence time>`; then
 * records the occurrence as the schedule's last with a compare-and-set on
 * its KV entry's revision.
 *
 * Each occurrence is taken once, whichever node fires it and whichever dies,
 * and not because only one node fires:
 * - a node killed between the publish and the record: the next leader finds
 *   the occurrence unrecorded and publishes it again, with the same
 *   `Nats-Msg-Id` — JetStream drops it as a duplicate;
 * - two nodes firing at once (a leader change): both publish the same id
 *   (one message), one record wins, the other's compare-and-set fails and it
 *   reads the schedule again.
 * The duplicate window (`CLAW_DUPLICATE_WINDOW_MS`, on `CLAW_IN` and
 * `CLAW_IN_RAW`) must cover the time between the two publishes: an
 * occurrence is published again only while it is at most
 * `CLAW_SCHEDULE_GRACE_MS` late (later ones were missed while no node ran:
 * `missed` decides), and the configuration refuses a grace longer than the
 * window. Left open: every node down for longer than the window right
 * between a publish and its record, with `missed: "once"`, publishes that
 * occurrence once more.
 */
import type { KV } from "@nats-io/kv";
import { CONTENT_TYPE_MSGPACK, encode, H, inboundSubject, publishDurable, startLeaderSweep, type JsPublish } from "../bus/index.js";
import { decodeSchedule, dueAt, occurrenceId, type Schedule } from "./schedule.js";
import { scheduleKey } from "./store.js";

/** How often the leader looks: occurrences are published within this of their time. */
const TICK_MS = 200;

/** Facts the scheduler reports, for logs. */
export type SchedulerEvent =
  | { type: "schedule.fired"; schedule: string; occurrence: string; duplicate: boolean }
  | { type: "schedule.skipped"; schedule: string; through: string }
  | { type: "schedule.done"; schedule: string }
  | { type: "schedule.failed"; schedule: string; error: string };

/** Options of {@link startScheduler}. */
export interface SchedulerOptions {
  kv: KV;
  publisher: JsPublish;
  nodeId: string;
  /** `CLAW_SCHEDULE_GRACE_MS`: how late an occurrence is still published as due (not missed) */
  graceMs: number;
  /** whether this node fires now (the leader, while its lease is surely valid) */
  leading: () => boolean;
  /** crash tests: `schedule.after-publish` kills the node between a publish and its record */
  failpoint?: (name: "schedule.after-publish") => void;
  onEvent?: (e: SchedulerEvent) => void;
}

/** The inbound message of one occurrence. */
export function occurrenceMessage(s: Schedule, occurrence: number): Record<string, unknown> {
  const id = occurrenceId(s.id, occurrence);
  const at = new Date(occurrence).toISOString();
  return {
    id,
    ts: occurrence,
    sender: { id: s.sender ?? `schedule:${s.id}` },
    text: s.text,
    metadata: { schedule: { id: s.id, occurrence: at }, ...(s.agent ? { agent: s.agent } : {}) },
  };
}

/** The running scheduler. */
export interface Scheduler {
  stop(): Promise<void>;
}

/** Starts the scheduler: it fires on whichever node `leading` says, from a live copy of the bucket. */
export function startScheduler(o: SchedulerOptions): Scheduler {
  const emit = o.onEvent ?? (() => {});

  /** Publishes what is due of one schedule, from its entry as it is now; each occurrence recorded with a compare-and-set. */
  async function fire(id: string): Promise<void> {
    const key = scheduleKey(id);
    const entry = await o.kv.get(key);
    const s = entry && entry.operation === "PUT" ? decodeSchedule(entry.value) : undefined;
    if (!entry || !s) return;
    const due = dueAt(s, Date.now(), o.graceMs);
    let revision = entry.revision;
    for (const occurrence of due.publish) {
      if (!o.leading()) return;
      const msg = occurrenceMessage(s, occurrence);
      const ack = await publishDurable(
        o.publisher,
        {
          subject: inboundSubject(s.address),
          data: encode(msg),
          msgId: String(msg.id),
          headers: { [H.contentType]: CONTENT_TYPE_MSGPACK, [H.node]: o.nodeId },
        },
        { totalMs: 5_000 },
      );
      o.failpoint?.("schedule.after-publish");
      // fails when another node recorded it (or the schedule was deleted) meanwhile: this pass ends
      revision = await o.kv.update(key, JSON.stringify({ ...s, last: occurrence }), revision);
      emit({ type: "schedule.fired", schedule: s.id, occurrence: new Date(occurrence).toISOString(), duplicate: ack.duplicate });
    }
    if (due.last !== undefined && due.last !== due.publish.at(-1)) {
      revision = await o.kv.update(key, JSON.stringify({ ...s, last: due.last }), revision);
      emit({ type: "schedule.skipped", schedule: s.id, through: new Date(due.last).toISOString() });
    }
    if (due.done) {
      await o.kv.delete(key, { previousSeq: revision });
      emit({ type: "schedule.done", schedule: s.id });
    }
  }

  /** when each schedule is due next, as of its last occurrence: a cron pattern is not worked out again five times a second */
  const dueTimes = new Map<string, { last: number | undefined; at: number }>();
  const dueTime = (s: Schedule, now: number): number => {
    let known = dueTimes.get(s.id);
    if (!known || known.last !== s.last) {
      const due = dueAt(s, now, o.graceMs);
      known = { last: s.last, at: due.publish.length > 0 || due.last !== undefined || due.done ? now : due.next! };
      dueTimes.set(s.id, known);
    }
    return known.at;
  };

  return startLeaderSweep({
    kv: o.kv,
    prefix: "s",
    decode: decodeSchedule,
    leading: o.leading,
    tickMs: TICK_MS,
    onError: (e) => emit({ type: "schedule.failed", schedule: "*", error: String(e) }),
    async pass(schedules, now, going) {
      if (dueTimes.size > 2 * schedules.length + 100) dueTimes.clear();
      for (const s of schedules) {
        if (dueTime(s, now) > now) continue;
        dueTimes.delete(s.id);
        await fire(s.id).catch((e: unknown) => emit({ type: "schedule.failed", schedule: s.id, error: (e as Error)?.message ?? String(e) }));
        if (!going()) break;
      }
    },
  });
}
