/**
 * `claw schedules ls | rm <id>`: the schedules, read from and deleted in KV
 * `claw_schedules` as the gateway's `/v1/schedules` does; a deletion is
 * recorded in the audit trail.
 */
import { hostname, userInfo } from "node:os";
import { BUCKETS } from "../bus/index.js";
import { createAudit } from "../observability/index.js";
import { scheduleStore, scheduleView, type ScheduleStore } from "../schedules/index.js";
import { cliBus } from "./cli-connection.js";
import { formatTable } from "./text-table.js";

/** What `claw schedules` was asked. */
export type SchedulesOptions = { action: "ls"; json: boolean } | { action: "rm"; id: string };

/** Runs a schedules command. Returns the exit code. */
export async function schedulesCommand(o: SchedulesOptions): Promise<number> {
  const bus = await cliBus();
  try {
    const kv = await bus.kvm.open(BUCKETS.schedules).catch((e: unknown) => {
      throw new Error(`no schedules here: ${(e as Error).message}. Start a node against this NATS first (claw start).`, { cause: e });
    });
    const store: ScheduleStore = scheduleStore(kv);
    if (o.action === "ls") {
      const all = (await store.list()).map(scheduleView);
      if (o.json) {
        process.stdout.write(JSON.stringify({ schedules: all }) + "\n");
        return 0;
      }
      if (all.length === 0) {
        process.stdout.write("no schedules: make one with POST /v1/schedules, or give an agent the schedule.create skill\n");
        return 0;
      }
      const when = (s: (typeof all)[number]) =>
        s.at ? `at ${s.at}` : s.every !== undefined ? `every ${s.every / 1000}s` : `cron ${s.cron}${s.tz ? ` ${s.tz}` : ""}`;
      const rows = formatTable(
        [
          { header: "id", cell: (s: (typeof all)[number]) => s.id },
          { header: "chat", cell: (s) => `${s.address.channel}/${s.address.account}/${s.address.chat}` },
          { header: "agent", cell: (s) => s.agent ?? "" },
          { header: "when", cell: when },
          { header: "next", cell: (s) => s.next ?? "never" },
          { header: "text", cell: (s) => (s.text.length > 40 ? `${s.text.slice(0, 39)}…` : s.text).replace(/\s+/g, " ") },
        ],
        all,
      );
      process.stdout.write(rows.join("\n") + "\n");
      return 0;
    }
    if (!(await store.remove(o.id))) {
      process.stderr.write(`claw: no schedule ${o.id} (claw schedules ls lists them)\n`);
      return 1;
    }
    const audit = createAudit(bus.publisher, { source: "cli" });
    audit.record({ who: `cli:${userInfo().username}@${hostname()}`, what: "schedules rm", from: hostname(), outcome: "ok", detail: o.id });
    await audit.flush();
    process.stdout.write(`deleted ${o.id}: no occurrence after this\n`);
    return 0;
  } finally {
    await bus.close();
  }
}
