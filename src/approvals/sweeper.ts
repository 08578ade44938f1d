/**
 * The leader's part in approvals: an approval past its `expiresAt` is denied
 * as `timed out` (a decision like any other, so it counts once even when two
 * nodes think they lead), and a decision recorded but not yet told to its
 * turn (its node died in between) is told again — under the same message id,
 * and a turn that has it already finds nothing to resume.
 */
import type { KV } from "@nats-io/kv";
import { startLeaderSweep } from "../bus/index.js";
import { decodeApproval } from "./approval.js";
import { ApprovalDecidedError } from "./errors.js";
import type { ApprovalService } from "./service.js";

/** How often the leader looks. */
const TICK_MS = 250;
/** A decision not told after this long: its node died before it told the turn. */
const UNTOLD_MS = 3_000;

/** Facts the sweeper reports, for logs. */
export type ApprovalSweepEvent =
  | { type: "approval.timed_out"; approval: string; agent: string }
  | { type: "approval.redelivered"; approval: string; agent: string }
  | { type: "approval.sweep_failed"; approval: string; error: string };

/** Options of {@link startApprovalSweeper}. */
export interface ApprovalSweeperOptions {
  kv: KV;
  service: ApprovalService;
  /** whether this node sweeps now (the leader, while its lease is surely valid) */
  leading: () => boolean;
  onEvent?: (e: ApprovalSweepEvent) => void;
}

/** Starts sweeping; stop it with the returned function's promise. */
export function startApprovalSweeper(o: ApprovalSweeperOptions): { stop(): Promise<void> } {
  const emit = o.onEvent ?? (() => {});
  const failed = (id: string) => (e: unknown) => {
    if (!(e instanceof ApprovalDecidedError)) emit({ type: "approval.sweep_failed", approval: id, error: (e as Error)?.message ?? String(e) });
  };
  return startLeaderSweep({
    kv: o.kv,
    prefix: "a",
    decode: decodeApproval,
    leading: o.leading,
    tickMs: TICK_MS,
    onError: (e) => emit({ type: "approval.sweep_failed", approval: "*", error: String(e) }),
    async pass(approvals, now, going) {
      for (const a of approvals) {
        if (!going()) break;
        if (a.status === "pending" && a.expiresAt <= now) {
          await o.service
            .decide(a.id, { approved: false, by: "claw", reason: "timed out", expired: true })
            .then(() => emit({ type: "approval.timed_out", approval: a.id, agent: a.agent }), failed(a.id));
        } else if (a.delivered === false && (a.decidedAt ?? 0) + UNTOLD_MS <= now) {
          const fresh = await o.service.store.get(a.id);
          if (fresh?.delivered !== false) continue;
          await o.service.deliver(fresh).then(() => emit({ type: "approval.redelivered", approval: a.id, agent: a.agent }), failed(a.id));
        }
      }
    },
  });
}
