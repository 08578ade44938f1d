/**
 * Failures of the bus layer. Each class carries a stable `code`; callers branch
 * on `instanceof` or `code`, never on message text.
 */

/** Base class of every bus error. */
export class BusError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BusError";
    this.code = code;
  }
}

/** A subject token or subject could not be built (empty, too long, wildcard where not allowed). */
export class InvalidSubjectError extends BusError {
  constructor(message: string) {
    super("INVALID_SUBJECT", message);
    this.name = "InvalidSubjectError";
  }
}

/**
 * An inbound payload failed to decode or validate. `field` names the offending
 * envelope field (dotted path) when there is one.
 */
export class EnvelopeError extends BusError {
  readonly reason: "too_large" | "bad_encoding" | "too_deep" | "invalid_envelope";
  readonly field: string | undefined;
  constructor(reason: EnvelopeError["reason"], message: string, field?: string, options?: { cause?: unknown }) {
    super(`ENVELOPE_${reason.toUpperCase()}`, message, options);
    this.name = "EnvelopeError";
    this.reason = reason;
    this.field = field;
  }
}

/**
 * A stream or bucket exists with a configuration that conflicts with what Claw
 * needs. Claw never overwrites it; the operator decides.
 */
export class StreamConflictError extends BusError {
  readonly stream: string;
  readonly differences: string[];
  constructor(stream: string, differences: string[]) {
    super(
      "STREAM_CONFLICT",
      `stream ${stream} exists with a conflicting configuration (${differences.join("; ")}). ` +
        `Claw does not modify existing streams: delete it (nats stream rm ${stream}) or fix its config.`,
    );
    this.name = "StreamConflictError";
    this.stream = stream;
    this.differences = differences;
  }
}

/** The nats-server binary is missing or the server failed to start. */
export class NatsServerStartError extends BusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("NATS_SERVER_START", message, options);
    this.name = "NatsServerStartError";
  }
}

/** A publish did not get a JetStream ack after all retries. */
export class PublishError extends BusError {
  readonly subject: string;
  constructor(subject: string, message: string, options?: { cause?: unknown }) {
    super("PUBLISH_FAILED", `publish to ${subject} failed: ${message}`, options);
    this.name = "PublishError";
    this.subject = subject;
  }
}

/**
 * A dead letter may not be replayed to that subject: only to inbound
 * (`claw.in.…`), a session's mailbox (`claw.session.…`) or the family it came
 * from (a skill's invocations, a webhook's deliveries) — never to JetStream's
 * or the server's own subjects (`$KV.`, `$JS.`, `$SYS.`), the control plane
 * or the replies.
 */
export class ReplayTargetError extends BusError {
  readonly subject: string;
  constructor(subject: string, message: string) {
    super("DLQ_REPLAY_TARGET", message);
    this.name = "ReplayTargetError";
    this.subject = subject;
  }
}

/**
 * The server cannot reserve the byte limit chosen for a stream: JetStream
 * sets a stream's `max_bytes` aside in its store, and the store is smaller
 * than what is asked of it.
 */
export class StreamLimitError extends BusError {
  readonly stream: string;
  readonly maxBytes: number;
  constructor(stream: string, maxBytes: number, options?: { cause?: unknown }) {
    super("STREAM_BYTES_UNRESERVABLE", `JetStream cannot reserve ${maxBytes} bytes for stream ${stream} (insufficient storage resources)`, options);
    this.name = "StreamLimitError";
    this.stream = stream;
    this.maxBytes = maxBytes;
  }
}

/**
 * A consumer lane that ends when its pulling fails (`whenPullFails: "end"`)
 * ended: its consumer was removed, its pull failed or the client closed its
 * messages. Its user decides what follows (a web chat is asked to connect
 * again, a channel account connects anew).
 */
export class ConsumerLaneEndedError extends BusError {
  readonly stream: string;
  readonly consumer: string;
  constructor(stream: string, consumer: string, options?: { cause?: unknown }) {
    const why = options?.cause instanceof Error ? options.cause.message : "its messages ended";
    super("CONSUMER_LANE_ENDED", `consumer ${stream}/${consumer} stopped delivering: ${why}`, options);
    this.name = "ConsumerLaneEndedError";
    this.stream = stream;
    this.consumer = consumer;
  }
}

/** A consumer lane's policy that cannot work (thrown when the lane is started, before anything is pulled). */
export class LanePolicyError extends BusError {
  readonly consumer: string;
  constructor(consumer: string, message: string) {
    super("LANE_POLICY", `consumer lane ${consumer}: ${message}`);
    this.name = "LanePolicyError";
    this.consumer = consumer;
  }
}
