/**
 * Spans of a message's hops (ingress, session turn, reply publish), exported
 * over OTLP/HTTP when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. When it is not, the SDK is
 * never loaded and recording a span is one boolean test.
 *
 * Span ids are the hop traceparents the messages carry (derived from the
 * message id, see `hopTraceparent`), so the exported trace and the headers on
 * the bus name the same spans, and a redelivered message re-exports the same
 * span instead of a second one. Spans are recorded when a hop ends, with the
 * times it started and ended.
 */
import type { Attributes, Tracer } from "@opentelemetry/api";
import type { IdGenerator, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { spanIdOf, traceIdOf } from "../bus/index.js";
import { CLAW_VERSION } from "../version.js";

/** One finished hop. */
export interface HopSpan {
  /** `claw.ingress`, `claw.session`, `claw.out` */
  name: string;
  /** the hop's own traceparent (what the message it published carries) */
  traceparent: string;
  /** the traceparent of the hop before (absent for the root) */
  parent?: string;
  /** epoch ms */
  startMs: number;
  endMs: number;
  kind?: "consumer" | "producer" | "client" | "internal";
  attributes?: Attributes;
  /** set when the hop failed */
  error?: string;
}

/** Where hop spans go. */
export interface Tracing {
  readonly enabled: boolean;
  record(span: HopSpan): void;
  /** exports what is buffered and stops */
  shutdown(): Promise<void>;
}

/** Tracing that does nothing (no exporter configured). */
export const NO_TRACING: Tracing = { enabled: false, record() {}, shutdown: async () => {} };

/** Hands the SDK the ids of the span it is about to start (it asks synchronously inside `startSpan`). */
class HopIds implements IdGenerator {
  next: { traceId: string; spanId: string } | undefined;
  generateTraceId(): string {
    return this.next?.traceId ?? randomHex(32);
  }
  generateSpanId(): string {
    return this.next?.spanId ?? randomHex(16);
  }
}

function randomHex(n: number): string {
  let s = "";
  while (s.length < n)
    s += Math.floor(Math.random() * 0x100000000)
      .toString(16)
      .padStart(8, "0");
  return s.slice(0, n);
}

/** True when the environment names an OTLP endpoint for traces. */
export function otlpConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return (
    Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT) &&
    env.OTEL_TRACES_EXPORTER !== "none" &&
    env.OTEL_SDK_DISABLED !== "true"
  );
}

/**
 * Starts tracing for a node: OTLP/HTTP export when configured (the exporter
 * reads the standard `OTEL_EXPORTER_OTLP_*` variables itself), else {@link NO_TRACING}.
 */
export async function createTracing(nodeId: string, env: NodeJS.ProcessEnv = process.env, processor?: SpanProcessor): Promise<Tracing> {
  if (!processor && !otlpConfigured(env)) return NO_TRACING;
  const [{ BasicTracerProvider, BatchSpanProcessor }, { resourceFromAttributes }, { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace }] =
    await Promise.all([import("@opentelemetry/sdk-trace-base"), import("@opentelemetry/resources"), import("@opentelemetry/api")]);
  const KINDS = { consumer: SpanKind.CONSUMER, producer: SpanKind.PRODUCER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL } as const;
  let spanProcessor = processor;
  if (!spanProcessor) {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 1_000 });
  }
  const ids = new HopIds();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME || "claw", "service.version": CLAW_VERSION, "service.instance.id": nodeId }),
    idGenerator: ids,
    spanProcessors: [spanProcessor],
  });
  const tracer: Tracer = provider.getTracer("claw", CLAW_VERSION);
  return {
    enabled: true,
    record(s) {
      const parent = s.parent
        ? trace.setSpanContext(ROOT_CONTEXT, {
            traceId: traceIdOf(s.parent),
            spanId: spanIdOf(s.parent),
            traceFlags: Number.parseInt(s.parent.slice(-2), 16) & TraceFlags.SAMPLED,
            isRemote: true,
          })
        : ROOT_CONTEXT;
      ids.next = { traceId: traceIdOf(s.traceparent), spanId: spanIdOf(s.traceparent) };
      let span;
      try {
        span = tracer.startSpan(
          s.name,
          { kind: KINDS[s.kind ?? "internal"], startTime: s.startMs, attributes: { "claw.node": nodeId, ...s.attributes } },
          parent,
        );
      } finally {
        ids.next = undefined;
      }
      if (s.error) span.setStatus({ code: SpanStatusCode.ERROR, message: s.error });
      span.end(s.endMs);
    },
    async shutdown() {
      await provider.forceFlush().catch(() => undefined);
      await provider.shutdown().catch(() => undefined);
    },
  };
}
