/**
 * Creates streams, consumers and KV buckets idempotently. An existing resource
 * with a conflicting configuration is reported ({@link StreamConflictError}),
 * never modified.
 */
import { JetStreamApiCodes, JetStreamApiError, type ConsumerConfig, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import type { KV, Kvm } from "@nats-io/kv";
import { StreamConflictError } from "./errors.js";
import { withRetry } from "./retry.js";

/** JetStream API error code "stream name already in use" (not in the client's JetStreamApiCodes). */
const STREAM_NAME_IN_USE = 10058;

/** Receives non-fatal differences (e.g. a different max_age an operator chose). */
export type ProvisionWarn = (message: string) => void;

function isNotFound(e: unknown): boolean {
  return (
    e instanceof JetStreamApiError &&
    (e.code === JetStreamApiCodes.StreamNotFound || e.code === JetStreamApiCodes.ConsumerNotFound || e.status === 404)
  );
}

const sameSet = (a: string[] = [], b: string[] = []) => a.length === b.length && a.every((x) => b.includes(x));

/** Ensures a stream exists with the given essentials. Returns true when it was created. */
export async function ensureStream(
  jsm: JetStreamManager,
  spec: Partial<StreamConfig> & Pick<StreamConfig, "name" | "subjects" | "retention" | "storage">,
  warn: ProvisionWarn,
): Promise<boolean> {
  const existing = await withRetry(() => jsm.streams.info(spec.name)).catch((e) => {
    if (isNotFound(e)) return undefined;
    throw e;
  });
  if (!existing) {
    try {
      await withRetry(() => jsm.streams.add(spec));
      return true;
    } catch (e) {
      // another node created it between our info and add: fall through to the comparison
      if (!(e instanceof JetStreamApiError && e.code === STREAM_NAME_IN_USE)) throw e;
      return ensureStream(jsm, spec, warn);
    }
  }
  const c = existing.config;
  const conflicts: string[] = [];
  if (!sameSet(c.subjects, spec.subjects)) conflicts.push(`subjects ${JSON.stringify(c.subjects)} ≠ ${JSON.stringify(spec.subjects)}`);
  if (c.retention !== spec.retention) conflicts.push(`retention ${c.retention} ≠ ${spec.retention}`);
  if (c.storage !== spec.storage) conflicts.push(`storage ${c.storage} ≠ ${spec.storage}`);
  if (conflicts.length > 0) throw new StreamConflictError(spec.name, conflicts);
  for (const k of ["num_replicas", "duplicate_window", "max_age"] as const) {
    if (spec[k] !== undefined && c[k] !== spec[k]) {
      warn(`stream ${spec.name}: ${k} is ${c[k]}, Claw's default is ${spec[k]}; keeping the existing value`);
    }
  }
  return false;
}

/** Ensures a durable consumer exists; conflicts on filter or ack policy are reported. */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  spec: Partial<ConsumerConfig> & { durable_name: string },
): Promise<void> {
  const existing = await withRetry(() =>
    jsm.consumers.info(stream, spec.durable_name),
  ).catch((e) => {
    if (isNotFound(e)) return undefined;
    throw e;
  });
  if (!existing) {
    await withRetry(() => jsm.consumers.add(stream, spec));
    return;
  }
  const c = existing.config;
  const conflicts: string[] = [];
  if (c.filter_subject !== spec.filter_subject) conflicts.push(`filter_subject ${c.filter_subject} ≠ ${spec.filter_subject}`);
  if (c.ack_policy !== spec.ack_policy) conflicts.push(`ack_policy ${c.ack_policy} ≠ ${spec.ack_policy}`);
  if (conflicts.length > 0) throw new StreamConflictError(`${stream}/${spec.durable_name}`, conflicts);
}

/** What a takeover found: the stream sequences the previous holder had delivered and left unacked. */
export interface ConsumerTakeover {
  leftUnacked?: { from: number; to: number };
}

/**
 * Takes a durable consumer of a work-queue stream over for a new holder. If it
 * has messages delivered and not acked — the previous holder died, or the
 * deliveries and acks were lost with a connection — the consumer is
 * recreated: JetStream then delivers them again at once and in stream order
 * (instead of after their ack wait, behind newer messages), and whoever held
 * them can no longer ack anything (fenced off).
 */
export async function takeOverConsumer(
  jsm: JetStreamManager,
  stream: string,
  spec: Partial<ConsumerConfig> & { durable_name: string },
): Promise<ConsumerTakeover> {
  const info = await withRetry(() => jsm.consumers.info(stream, spec.durable_name)).catch((e) => {
    if (isNotFound(e)) return undefined;
    throw e;
  });
  let leftUnacked: ConsumerTakeover["leftUnacked"];
  if (info && info.num_ack_pending > 0) {
    leftUnacked = { from: info.ack_floor.stream_seq + 1, to: info.delivered.stream_seq };
    await withRetry(() => jsm.consumers.delete(stream, spec.durable_name));
  }
  await ensureConsumer(jsm, stream, spec);
  return { leftUnacked };
}

/** Opens a KV bucket, creating it when missing. */
export async function ensureBucket(kvm: Kvm, spec: { name: string; history: number; replicas: number; ttl?: number }): Promise<KV> {
  return withRetry(() => kvm.create(spec.name, { history: spec.history, replicas: spec.replicas, ttl: spec.ttl }));
}
