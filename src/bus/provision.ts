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

/** Opens a KV bucket, creating it when missing. */
export async function ensureBucket(kvm: Kvm, spec: { name: string; history: number; replicas: number; ttl?: number }): Promise<KV> {
  return withRetry(() => kvm.create(spec.name, { history: spec.history, replicas: spec.replicas, ttl: spec.ttl }));
}
