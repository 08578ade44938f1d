/** Tool approvals: calls an agent's `approve` holds back until a human decides (docs/approvals.md). */
export {
  APPROVAL_ID,
  approvalView,
  decodeApproval,
  ApprovalsQuerySchema,
  ApprovalViewSchema,
  DecideApprovalSchema,
  parseApprovalCommand,
  type Approval,
  type ApprovalCommand,
  type ApprovalView,
  type DecideApproval,
} from "./approval.js";
export { ApprovalDecidedError, NoApprovalError } from "./errors.js";
export { approvalKey, approvalStore, type ApprovalStore, type Decision } from "./store.js";
export { approvalService, requestNotice, type ApprovalEvent, type ApprovalService, type ApprovalServiceOptions } from "./service.js";
export { startApprovalSweeper, type ApprovalSweepEvent, type ApprovalSweeperOptions } from "./sweeper.js";
export { handleApprovalCommand, type CommandAgent, type CommandOutcome } from "./chat-commands.js";
