/**
 * `claw approvals ls | approve <id> | deny <id>`: the tool calls waiting for a
 * human's decision, read from KV `claw_approvals`, and the decision made as
 * `POST /v1/approvals/{id}` makes it — recorded once (a compare-and-set),
 * told to the waiting turn on whichever node owns its session, and recorded
 * in the audit trail.
 */
import { hostname, userInfo } from "node:os";
import { ApprovalDecidedError, approvalService, approvalStore, approvalView, NoApprovalError } from "../approvals/index.js";
import { BUCKETS } from "../bus/index.js";
import { createAudit } from "../observability/index.js";
import { cliBus } from "./cli-connection.js";
import { formatTable } from "./text-table.js";

/** What `claw approvals` was asked. */
export type ApprovalsOptions =
  { action: "ls"; agent?: string; session?: string; json: boolean } | { action: "approve" | "deny"; id: string; reason?: string; by?: string };

/** Runs an approvals command. Returns the exit code. */
export async function approvalsCommand(o: ApprovalsOptions): Promise<number> {
  const bus = await cliBus();
  try {
    const kv = await bus.kvm.open(BUCKETS.approvals).catch((e: unknown) => {
      throw new Error(`no approvals here: ${(e as Error).message}. Start a node against this NATS first (claw start).`, { cause: e });
    });
    const store = approvalStore(kv);
    if (o.action === "ls") {
      const pending = (await store.pending({ agent: o.agent, session: o.session })).map(approvalView);
      if (o.json) {
        process.stdout.write(JSON.stringify({ approvals: pending }) + "\n");
        return 0;
      }
      if (pending.length === 0) {
        process.stdout.write("no approvals waiting (an agent's approve field holds back the calls it names)\n");
        return 0;
      }
      const input = (a: (typeof pending)[number]) => {
        const s = JSON.stringify(a.input ?? null);
        return s.length > 50 ? `${s.slice(0, 49)}…` : s;
      };
      const rows = formatTable(
        [
          { header: "id", cell: (a: (typeof pending)[number]) => a.id },
          { header: "agent", cell: (a) => a.agent },
          { header: "session", cell: (a) => a.session },
          { header: "skill", cell: (a) => a.skill },
          { header: "expires", cell: (a) => a.expiresAt },
          { header: "input", cell: input },
        ],
        pending,
      );
      process.stdout.write(rows.join("\n") + "\n");
      return 0;
    }
    const who = `cli:${userInfo().username}@${hostname()}`;
    const service = approvalService({ store, publisher: bus.publisher, nc: bus.nc, nodeId: `cli-${hostname()}` });
    const audit = createAudit(bus.publisher, { source: "cli" });
    try {
      const a = await service.decide(o.id, { approved: o.action === "approve", by: o.by ?? who, ...(o.reason ? { reason: o.reason } : {}) });
      audit.record({ who, what: `approvals ${o.action}`, from: hostname(), outcome: "ok", detail: o.id });
      process.stdout.write(`${a.status} ${a.id}: ${a.agent} ${a.status === "approved" ? "runs" : "does not run"} ${a.skill}\n`);
      return 0;
    } catch (e) {
      if (!(e instanceof NoApprovalError) && !(e instanceof ApprovalDecidedError)) throw e;
      audit.record({ who, what: `approvals ${o.action}`, from: hostname(), outcome: "refused", detail: `${o.id}: ${e.message}` });
      process.stderr.write(`claw: ${e.message}${e instanceof NoApprovalError ? " (claw approvals ls lists those waiting)" : ""}\n`);
      return 1;
    } finally {
      await audit.flush();
    }
  } finally {
    await bus.close();
  }
}
