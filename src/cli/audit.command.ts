/**
 * `claw audit tail`: the audit trail (`CLAW_AUDIT`): the last records, and
 * with `--follow` the new ones as they are written.
 */
import { DeliverPolicy, jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { STREAMS } from "../bus/index.js";
import type { AuditRecord } from "../observability/index.js";
import { cliConnect } from "./cli-connection.js";

function line(r: AuditRecord): string {
  const when = new Date(r.ts).toISOString();
  return `${when}  ${String(r.outcome).padEnd(6)} ${r.who}  ${r.what}  from ${r.from}${r.node ? ` via ${r.node}` : ""}${r.detail ? `  — ${r.detail}` : ""}`;
}

/** Prints the last `n` records (and, following, the next ones until interrupted). */
export async function auditCommand(o: { n: number; follow: boolean; json: boolean }): Promise<number> {
  const nc = await cliConnect();
  try {
    const js: JetStreamClient = jetstream(nc);
    const jsm = await js.jetstreamManager();
    const info = await jsm.streams.info(STREAMS.audit).catch((e: unknown) => {
      throw new Error(`no audit trail here: ${(e as Error).message}. Start a node against this NATS first (claw start).`, { cause: e });
    });
    const last = info.state.last_seq;
    const from = Math.max(info.state.first_seq, last - o.n + 1);
    if (last === 0 && !o.follow) {
      process.stdout.write("the audit trail is empty\n");
      return 0;
    }
    const consumer = await js.consumers.get(STREAMS.audit, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from || 1 });
    const messages = await consumer.consume();
    const stop = () => messages.stop();
    process.once("SIGINT", stop);
    for await (const m of messages) {
      let r: AuditRecord;
      try {
        r = m.json<AuditRecord>();
      } catch {
        continue;
      }
      process.stdout.write(o.json ? JSON.stringify(r) + "\n" : line(r) + "\n");
      if (!o.follow && m.seq >= last) break;
    }
    process.off("SIGINT", stop);
    return 0;
  } finally {
    await nc.close();
  }
}
