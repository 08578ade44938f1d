/**
 * A node's part in approvals (docs/approvals.md): the service over KV
 * `claw_approvals` that turns, the gateway and the chat use; the chat
 * commands its partitions take before their sessions do; and — once the
 * node is in the cluster — the sweeper, which times approvals out while this
 * node holds the leader lease.
 */
import type { AgentRegistry, AgentSpec } from "../actors/index.js";
import { approvalService, approvalStore, handleApprovalCommand, startApprovalSweeper, type ApprovalService } from "../approvals/index.js";
import { BUCKETS, type Bus, type Envelope } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import type { Logger } from "../log.js";
import { failpointsFrom } from "./failpoints.js";

/** The approvals' service, open (`CLAW_FAILPOINTS=approval.after-decide` armed in it, for crash tests). */
export async function openNodeApprovals(bus: Bus, config: ClawConfig, log: Logger): Promise<ApprovalService> {
  return approvalService({
    store: approvalStore(await bus.kvm.open(BUCKETS.approvals)),
    publisher: bus.publisher,
    nc: bus.nc,
    nodeId: config.nodeId,
    failpoint: failpointsFrom(
      config.failpoints.filter((f) => f.startsWith("approval.")),
      log,
    ),
  });
}

/** Starts this node's sweeper: it times approvals out while `leading()` says so. */
export async function nodeApprovalSweeper(bus: Bus, approvals: ApprovalService, log: Logger, leading: () => boolean) {
  return startApprovalSweeper({
    kv: await bus.kvm.open(BUCKETS.approvals),
    service: approvals,
    leading,
    onEvent: (e) => (e.type === "approval.sweep_failed" ? log.warn(e, e.type) : log.info(e, e.type)),
  });
}

/** The partitions' chat commands: `/approve <id>` and `/deny <id> [reason]` to an agent that holds calls back. */
export function approvalCommands(approvals: ApprovalService, agents: AgentRegistry, log: Logger) {
  return async (turn: { agent: AgentSpec; session: string; envelope: Envelope }): Promise<boolean> => {
    const agent = agents.get(turn.agent.id)?.spec ?? turn.agent;
    const outcome = await handleApprovalCommand(approvals, agent, turn.session, turn.envelope);
    if (outcome) log.info({ agent: agent.id, session: turn.session, msg_id: turn.envelope.id, decided: outcome.decided }, "approval.command");
    return outcome !== undefined;
  };
}
