/**
 * `claw dlq`: list, show, replay and purge dead letters.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  getDeadLetter,
  listDeadLetters,
  purgeDeadLetters,
  replayDeadLetter,
  DeadLetterNotFoundError,
  ReplayTargetError,
  type DeadLetterRecord,
} from "../bus/index.js";
import { cliConnect } from "./cli-connection.js";
import { describePayload } from "./tail.command.js";

/** Options of {@link dlqCommand}. */
export interface DlqOptions {
  action: "ls" | "show" | "replay" | "purge";
  seq?: number;
  all: boolean;
  stage?: string;
  limit: number;
  to?: string;
  keep: boolean;
  json: boolean;
}

const print = (s: string) => process.stdout.write(s + "\n");

function line(r: DeadLetterRecord): string {
  return `${String(r.seq).padStart(6)}  ${r.time.slice(0, 19)}  ${r.stage.padEnd(8)} ${r.code.padEnd(18)} ${r.originalSubject}  ${r.reason}`;
}

/** Runs a `claw dlq` action. Returns the exit code. */
export async function dlqCommand(o: DlqOptions): Promise<number> {
  const nc = await cliConnect();
  try {
    const jsm = await jetstreamManager(nc);
    switch (o.action) {
      case "ls": {
        const rows = await listDeadLetters(jsm, { stage: o.stage, limit: o.limit });
        if (o.json) rows.forEach((r) => print(JSON.stringify({ ...r, data: describePayload(r.data) })));
        else if (rows.length === 0) print("no dead letters");
        else {
          print(`${"SEQ".padStart(6)}  ${"TIME".padEnd(19)}  ${"STAGE".padEnd(8)} ${"CODE".padEnd(18)} SUBJECT  REASON`);
          rows.forEach((r) => print(line(r)));
        }
        return 0;
      }
      case "show": {
        const r = o.seq === undefined ? undefined : await getDeadLetter(jsm, o.seq);
        if (!r) throw new DeadLetterNotFoundError(o.seq ?? -1);
        print(JSON.stringify({ ...r, data: describePayload(r.data) }, null, 2));
        return 0;
      }
      case "replay": {
        const js = jetstream(nc);
        const seqs = o.all ? (await listDeadLetters(jsm, { stage: o.stage, limit: Number.MAX_SAFE_INTEGER })).map((r) => r.seq) : [o.seq!];
        let n = 0;
        let refused = 0;
        for (const seq of seqs) {
          let r;
          try {
            r = await replayDeadLetter(jsm, js, seq, { to: o.to, keep: o.keep });
          } catch (e) {
            // the others of --all still go; the exit code says some did not
            if (!(e instanceof ReplayTargetError)) throw e;
            process.stderr.write(`not replayed ${seq}: ${e.message}\n`);
            refused++;
            continue;
          }
          n++;
          print(`replayed ${seq} → ${r.subject}${r.duplicate ? " (duplicate: already replayed within the duplicate window)" : ""}`);
          if (seqs.length > 20 && n % 100 === 0) process.stderr.write(`${n}/${seqs.length}\n`);
        }
        if (seqs.length === 0) print("no dead letters to replay");
        return refused > 0 ? 1 : 0;
      }
      case "purge": {
        const n = await purgeDeadLetters(jsm, o.stage);
        print(`purged ${n} dead letter(s)${o.stage ? ` of stage ${o.stage}` : ""}`);
        return 0;
      }
    }
  } finally {
    await nc.close();
  }
}
