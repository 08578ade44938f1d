/**
 * The node and its supervision: start, run and stop a Claw node.
 */
export { startNode, type ClawNode } from "./node.js";
export { resolveNatsEndpoint, type NatsEndpoint } from "./nats-endpoint.js";
export {
  clusterStatus,
  backlogByOwner,
  deadLetterCounts,
  type ClusterStatus,
  type PartitionStatus,
  type DeadLetterCounts,
  type OwnerBacklog,
} from "./cluster-status.js";
export { channelStatus, summarizeChannels, type ChannelSummary, type ChannelListing } from "./channel-status.js";
export type { MemberInfo } from "./membership.js";
export { NoClusterError } from "./errors.js";
