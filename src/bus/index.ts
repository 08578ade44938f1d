/**
 * The bus: NATS connection, subjects, envelope and codec, stream/consumer/KV
 * specs, durable publishing and dead letters. Other folders import only this.
 */
export * from "./errors.js";
export * from "./subjects.js";
export * from "./partition.js";
export * from "./envelope.js";
export * from "./codec.js";
export * from "./headers.js";
export * from "./retry.js";
export { connectBus, natsAnswers, natsCredentials, parseServers, redactServers, DEFAULT_NATS_URL, type Bus, type ConnectBusOptions } from "./connection.js";
export * from "./specs.js";
export {
  ensureStream,
  ensureConsumer,
  ensureBucket,
  createOrTakeStore,
  takeOverConsumer,
  type ConsumerTakeover,
  type EnsureStreamOptions,
  type ProvisionWarn,
} from "./provision.js";
export {
  startConsumerLane,
  defaultLanePolicy,
  lanePolicyProblems,
  type ConsumerLane,
  type ConsumerLaneOptions,
  type LaneConsumerSpec,
  type LaneEvent,
  type LaneFailureAction,
  type LaneOrdering,
  type LanePolicy,
} from "./consumer-lane.js";
export { publishDurable, toHeaders, fromHeaders, type DurablePublish } from "./publisher.js";
export { createJsPublisher, type JsPublish, type JsPublisher } from "./js-publisher.js";
export { deadLetterOf, publishDeadLetter, type DeadLetter } from "./dead-letter.js";
export { probePartitionMapping, PROBE_CHANNEL, type MappingProbeResult } from "./mapping-probe.js";
export {
  startNatsServer,
  startNatsCluster,
  natsClusterPlan,
  findNatsServerBinary,
  freePort,
  type NatsServerOptions,
  type NatsClusterOptions,
  type NatsServerProcess,
  type NatsServerExit,
} from "./nats-server-process.js";
export {
  getDeadLetter,
  listDeadLetters,
  replayDeadLetter,
  checkReplayTarget,
  purgeDeadLetters,
  DeadLetterNotFoundError,
  type DeadLetterRecord,
} from "./dead-letter-admin.js";
export { delay, within } from "./delay.js";
export { askAll } from "./ask-all.js";
export { decodeReplyPiece, encodeReplyPiece, type ReplyPiece } from "./reply-piece.js";
export { watchBusHealth, type BusHealth, type BusHealthOptions } from "./health.js";
export type { BusHealthEvent, BusProblem } from "./bus-condition.js";
export { newTraceparent, childTraceparent, hopTraceparent, traceIdOf, spanIdOf } from "./traceparent.js";
export * from "./session-mail.js";
export { mirrorBucket, type KvMirror } from "./kv-mirror.js";
export { startLeaderSweep, type LeaderSweepOptions } from "./leader-sweep.js";
export { backup, backedUp, restore, RestoreConflictError, type Progress } from "./backup.js";
