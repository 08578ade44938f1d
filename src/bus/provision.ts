/**
 * Creates streams, consumers and KV buckets idempotently, and keeps Claw's
 * streams as the settings say: an existing stream's subjects and limits
 * (max age, max bytes, discard, duplicate window) are updated to Claw's
 * (an upgrade or a changed setting applies to streams made before). One
 * whose retention or storage conflicts is reported
 * ({@link StreamConflictError}), never modified.
 */
import { JetStreamApiCodes, JetStreamApiError, type ConsumerConfig, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import type { KV, Kvm } from "@nats-io/kv";
import { StreamConflictError, StreamLimitError } from "./errors.js";
import { withRetry, type RetryOptions } from "./retry.js";

/** JetStream API error code "stream name already in use" (not in the client's JetStreamApiCodes). */
const STREAM_NAME_IN_USE = 10058;
const SUBJECTS_OVERLAP = 10065;
/** "insufficient storage resources available": the server cannot reserve a stream's max_bytes in its store. */
const STORAGE_RESOURCES_EXCEEDED = 10047;

/** Receives non-fatal differences (e.g. a replica count Claw does not change by itself). */
export type ProvisionWarn = (message: string) => void;

/** How {@link ensureStream} goes about it. */
export interface EnsureStreamOptions {
  /** how JetStream calls are retried (default: transient errors for 30 s) */
  retry?: RetryOptions;
  /**
   * The spec's `max_bytes` is a default, not the operator's choice: when the
   * server cannot reserve it, the stream is made (or kept) without a byte
   * limit, with a warning, instead of failing.
   */
  maxBytesIsDefault?: boolean;
  /** told what an existing stream had changed (`max_age 0 → 604800000000000`) */
  onUpdate?: (stream: string, changes: string[]) => void;
}

function isNotFound(e: unknown): boolean {
  return e instanceof JetStreamApiError && (e.code === JetStreamApiCodes.StreamNotFound || e.code === JetStreamApiCodes.ConsumerNotFound || e.status === 404);
}

const isUnreservable = (e: unknown) => e instanceof JetStreamApiError && e.code === STORAGE_RESOURCES_EXCEEDED;

const sameSet = (a: string[] = [], b: string[] = []) => a.length === b.length && a.every((x) => b.includes(x));

/** The settings Claw keeps on its streams, updated on an existing one when they differ. */
const KEPT = ["max_age", "max_bytes", "discard", "duplicate_window"] as const;

type StreamSpec = Partial<StreamConfig> & Pick<StreamConfig, "name" | "subjects" | "retention" | "storage">;

/**
 * Ensures a stream exists as `spec` says: created when missing, its subjects
 * and limits updated when they differ. Returns true when it was created.
 * @throws {@link StreamConflictError} when its retention or storage differ (never changed)
 * @throws {@link StreamLimitError} when the server cannot reserve the spec's bytes and they were chosen by the operator
 */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec, warn: ProvisionWarn, o: EnsureStreamOptions = {}): Promise<boolean> {
  const unreservable = (e: unknown): StreamSpec | undefined => {
    if (!isUnreservable(e) || !spec.max_bytes || spec.max_bytes < 0) return undefined;
    if (!o.maxBytesIsDefault) throw new StreamLimitError(spec.name, spec.max_bytes, { cause: e });
    warn(
      `stream ${spec.name}: JetStream cannot reserve ${spec.max_bytes} bytes for it (insufficient storage resources); ` +
        `keeping it without a byte limit — set its size explicitly to one the store can hold, or give the server a larger max_file_store`,
    );
    return { ...spec, max_bytes: -1 };
  };
  const existing = await withRetry(() => jsm.streams.info(spec.name), o.retry).catch((e) => {
    if (isNotFound(e)) return undefined;
    throw e;
  });
  if (!existing) {
    try {
      await withRetry(() => jsm.streams.add(spec), o.retry);
      return true;
    } catch (e) {
      const smaller = unreservable(e);
      if (smaller) return ensureStream(jsm, smaller, warn, { ...o, maxBytesIsDefault: false });
      // another node created it between our info and add (nats-server 2.9 may say "subjects overlap" for that too):
      // fall through to the comparison — unless no stream of this name exists, and the overlap is another stream's
      if (!(await lostCreateRace(e, jsm, spec.name, o.retry))) throw e;
      return ensureStream(jsm, spec, warn, o);
    }
  }
  const c = existing.config;
  const conflicts: string[] = [];
  if (c.retention !== spec.retention) conflicts.push(`retention ${c.retention} ≠ ${spec.retention}`);
  if (c.storage !== spec.storage) conflicts.push(`storage ${c.storage} ≠ ${spec.storage}`);
  if (conflicts.length > 0) throw new StreamConflictError(spec.name, conflicts);
  if (spec.num_replicas !== undefined && c.num_replicas !== spec.num_replicas) {
    // moving every replica is the operator's decision (nats stream edit --replicas), not a start-up's
    warn(`stream ${spec.name}: num_replicas is ${c.num_replicas}, this node's CLAW_REPLICAS is ${spec.num_replicas}; keeping the existing value`);
  }
  const changes: string[] = [];
  if (!sameSet(c.subjects, spec.subjects)) changes.push(`subjects ${JSON.stringify(c.subjects)} → ${JSON.stringify(spec.subjects)}`);
  for (const k of KEPT) if (spec[k] !== undefined && c[k] !== spec[k]) changes.push(`${k} ${String(c[k])} → ${String(spec[k])}`);
  if (changes.length === 0) return false;
  const { name: _n, retention: _r, storage: _s, num_replicas: _nr, ...wanted } = spec;
  try {
    await withRetry(() => jsm.streams.update(spec.name, { ...c, ...wanted }), o.retry);
  } catch (e) {
    // the other changes still apply, without the byte limit
    const smaller = unreservable(e);
    if (!smaller) throw e;
    return ensureStream(jsm, smaller, warn, { ...o, maxBytesIsDefault: false });
  }
  o.onUpdate?.(spec.name, changes);
  return false;
}

/** Ensures a durable consumer exists; conflicts on filter or ack policy are reported. */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  spec: Partial<ConsumerConfig> & { durable_name: string },
  retry?: RetryOptions,
): Promise<void> {
  const existing = await withRetry(() => jsm.consumers.info(stream, spec.durable_name), retry).catch((e) => {
    if (isNotFound(e)) return undefined;
    throw e;
  });
  if (!existing) {
    await withRetry(() => jsm.consumers.add(stream, spec), retry);
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

/**
 * Whether `e`, the refusal of an add of stream `name`, means another node added it first: "name already in use", or
 * "subjects overlap" (nats-server 2.9's answer to the same race) while a stream of that name now exists — with none,
 * the overlap is another stream's and a real error.
 */
async function lostCreateRace(e: unknown, jsm: JetStreamManager, name: string, retry?: RetryOptions): Promise<boolean> {
  if (!(e instanceof JetStreamApiError)) return false;
  if (e.code === STREAM_NAME_IN_USE) return true;
  if (e.code !== SUBJECTS_OVERLAP) return false;
  return (await withRetry(() => jsm.streams.info(name), retry).catch(() => undefined)) !== undefined;
}

/**
 * Creates a store (a KV bucket's or an object store's stream) through its client's `create` — which looks the stream up
 * and adds it when missing — and, when that add loses a race with another node's (nodes starting together), takes the
 * store the other node made: nats-server 2.9 refuses the later add as "subjects overlap with an existing stream" (10065)
 * or "name already in use" (10058), which here means the stream exists now, and `open` is how the caller gets it.
 */
export async function createOrTakeStore<T>(
  stream: string,
  jsm: JetStreamManager,
  create: () => Promise<T>,
  open: () => Promise<T>,
  retry?: RetryOptions,
): Promise<T> {
  try {
    return await withRetry(create, retry);
  } catch (e) {
    if (!(await lostCreateRace(e, jsm, stream, retry))) throw e;
    return withRetry(open, retry);
  }
}

/** Opens a KV bucket, creating it when missing (or taking the one another node created at the same moment). */
export async function ensureBucket(
  kvm: Kvm,
  spec: { name: string; history: number; replicas: number; ttl?: number },
  retry?: RetryOptions,
  jsm?: JetStreamManager,
): Promise<KV> {
  const create = () => kvm.create(spec.name, { history: spec.history, replicas: spec.replicas, ttl: spec.ttl });
  return jsm ? createOrTakeStore(`KV_${spec.name}`, jsm, create, () => kvm.open(spec.name), retry) : withRetry(create, retry);
}
