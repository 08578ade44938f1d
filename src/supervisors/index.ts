/**
 * The node and its supervision: start, run and stop a Claw node.
 */
export { startNode, type ClawNode } from "./node.js";
export { resolveNatsEndpoint, type NatsEndpoint } from "./nats-endpoint.js";
export { clusterStatus, type ClusterStatus, type PartitionStatus } from "./cluster-status.js";
