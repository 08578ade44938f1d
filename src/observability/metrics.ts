/**
 * Prometheus metrics of a node (prom-client), served at `GET /metrics`.
 * Labels are bounded: channel, stage, reason, stream, partition, kind — never a
 * chat, session or message id.
 *
 * Two halves, made at two moments of a node's start: the counters and
 * histograms exist first (every part reports into them from its own start),
 * the gauges read at scrape time are added by {@link ClawMetrics.readFrom}
 * once the parts they read exist (before the gateway serves `/metrics`).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** One partition consumer's backlog. */
export interface ConsumerBacklog {
  stream: string;
  partition: number;
  /** not yet delivered + delivered and not yet acked */
  waiting: number;
}

/** Live values read at scrape time. */
export interface MetricsSources {
  partitionsOwned(): number;
  leader(): boolean;
  sessionsActive(): number;
  /** the backlog of this node's partition consumers (asked of the server at scrape time) */
  consumerBacklog?(): Promise<ConsumerBacklog[]>;
  /** readiness (default: ready) */
  ready?(): boolean;
  /** the code of the bus' current problem (`nats_disconnected`, `storage_full`, …), if it has one */
  busProblem?(): string | undefined;
  /** provider name → true while its circuit is open */
  llmCircuits?(): Record<string, boolean>;
}

/** The metric handles the node feeds. */
export interface ClawMetrics {
  readonly registry: Registry;
  messagesIn: Counter<"channel">;
  messagesOut: Counter<"channel">;
  dlq: Counter<"stage" | "reason">;
  redeliveries: Counter<"stage">;
  stageDuration: Histogram<"stage">;
  sessionsPassivated: Counter;
  actorRestarts: Counter<"kind">;
  /** times the bus became unavailable, by problem */
  busOutages: Counter<"reason">;
  /** requests or publishes refused because the bus could not take them */
  publishRefused: Counter<"stage" | "reason">;
  /** turns held (not failed) because the bus was unavailable */
  turnsHeld: Counter<"reason">;
  /** requests and turns a tenant's quota refused (src/tenants), by tenant and quota */
  tenantQuotaRefusals: Counter<"tenant" | "quota">;
  /** turns that waited for a tenant's quota (`messagesPerMinute`, `concurrentTurns`) before they ran */
  tenantQuotaWaits: Counter<"tenant" | "quota">;
  /** tokens the providers counted for a tenant's agents, `kind` = `prompt` | `completion` */
  tenantTokens: Counter<"tenant" | "kind">;
  /** calls to LLM providers, by outcome (`ok`, `unavailable`, `rejected`, `skipped`) */
  llmRequests: Counter<"provider" | "outcome">;
  llmDuration: Histogram<"provider">;
  /** tokens the providers counted, `kind` = `prompt` | `completion` */
  llmTokens: Counter<"provider" | "kind">;
  skillInvocations: Counter<"skill" | "outcome">;
  skillDuration: Histogram<"skill">;
  /** native messages a channel account took in (`in`) and replies it sent (`out`) */
  channelMessages: Counter<"channel" | "direction">;
  /** channel connections lost */
  channelLosses: Counter<"channel">;
  /** adds the gauges read at scrape time from `sources` (once: the parts they read exist by then) */
  readFrom(sources: MetricsSources): void;
  /** Prometheus text exposition */
  render(): Promise<string>;
  readonly contentType: string;
}

/** Creates a registry with Node's default metrics and Claw's own; with `sources`, its gauges too (else see {@link ClawMetrics.readFrom}). */
export function createMetrics(sources?: MetricsSources): ClawMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "claw_" });
  const r = [registry];
  const m: ClawMetrics = {
    registry,
    messagesIn: new Counter({ name: "claw_messages_in_total", help: "Inbound messages accepted at ingress", labelNames: ["channel"], registers: r }),
    messagesOut: new Counter({ name: "claw_messages_out_total", help: "Replies published", labelNames: ["channel"], registers: r }),
    dlq: new Counter({ name: "claw_dlq_total", help: "Messages dead-lettered", labelNames: ["stage", "reason"], registers: r }),
    channelMessages: new Counter({
      name: "claw_channel_messages_total",
      help: "Native messages channel accounts took in (direction in) and replies they sent (out)",
      labelNames: ["channel", "direction"],
      registers: r,
    }),
    channelLosses: new Counter({
      name: "claw_channel_connection_losses_total",
      help: "Channel connections lost (each is retried with backoff)",
      labelNames: ["channel"],
      registers: r,
    }),
    redeliveries: new Counter({ name: "claw_redeliveries_total", help: "Messages delivered more than once", labelNames: ["stage"], registers: r }),
    stageDuration: new Histogram({
      name: "claw_stage_duration_seconds",
      help:
        "Time spent per stage: pickup (stored in its stream → taken by a node), ingress, queue (behind the session's earlier messages), session " +
        "(the whole turn), snapshot (its KV write), end_to_end (from the envelope's ts)",
      labelNames: ["stage"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: r,
    }),
    sessionsPassivated: new Counter({ name: "claw_sessions_passivated_total", help: "Session actors passivated (state kept in KV)", registers: r }),
    actorRestarts: new Counter({ name: "claw_actor_restarts_total", help: "Supervised children restarted", labelNames: ["kind"], registers: r }),
    busOutages: new Counter({
      name: "claw_bus_outages_total",
      help: "Times NATS became unavailable to this node, by reason",
      labelNames: ["reason"],
      registers: r,
    }),
    publishRefused: new Counter({
      name: "claw_publish_refused_total",
      help: "Messages not accepted because NATS could not take them (stage gateway: answered 503), by reason",
      labelNames: ["stage", "reason"],
      registers: r,
    }),
    tenantQuotaRefusals: new Counter({
      name: "claw_tenant_quota_refusals_total",
      help: "Requests and turns refused for a tenant's quota, by tenant and quota",
      labelNames: ["tenant", "quota"],
      registers: r,
    }),
    tenantQuotaWaits: new Counter({
      name: "claw_tenant_quota_waits_total",
      help: "Turns that waited for a tenant's quota (messagesPerMinute, concurrentTurns) before they ran, by tenant and quota",
      labelNames: ["tenant", "quota"],
      registers: r,
    }),
    tenantTokens: new Counter({
      name: "claw_tenant_tokens_total",
      help: "Tokens the providers counted for a tenant's agents, by tenant and kind (prompt, completion)",
      labelNames: ["tenant", "kind"],
      registers: r,
    }),
    turnsHeld: new Counter({
      name: "claw_turns_held_total",
      help: "Session turns held until NATS was back (not counted as failed attempts)",
      labelNames: ["reason"],
      registers: r,
    }),
    llmRequests: new Counter({
      name: "claw_llm_requests_total",
      help: "Calls to LLM providers, by outcome (ok, unavailable, rejected, skipped: circuit open)",
      labelNames: ["provider", "outcome"],
      registers: r,
    }),
    llmDuration: new Histogram({
      name: "claw_llm_request_duration_seconds",
      help: "Duration of LLM provider calls that were made",
      labelNames: ["provider"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: r,
    }),
    llmTokens: new Counter({
      name: "claw_llm_tokens_total",
      help: "Tokens the LLM providers counted (kind: prompt, completion)",
      labelNames: ["provider", "kind"],
      registers: r,
    }),
    skillInvocations: new Counter({
      name: "claw_skill_invocations_total",
      help: "Skill invocations this node answered, by outcome (ok, or the error code: timeout, memory, denied, exit, …)",
      labelNames: ["skill", "outcome"],
      registers: r,
    }),
    skillDuration: new Histogram({
      name: "claw_skill_duration_seconds",
      help: "Run time of skill invocations this node answered (the sandbox's run, or the built-in's)",
      labelNames: ["skill"],
      buckets: [0.001, 0.005, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
      registers: r,
    }),
    readFrom: (s) => addGauges(registry, s),
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
  if (sources) m.readFrom(sources);
  return m;
}

/** The gauges read at scrape time. */
function addGauges(registry: Registry, sources: MetricsSources): void {
  const r = [registry];
  new Gauge({
    name: "claw_consumer_pending",
    help: "Messages waiting in a partition this node owns: not yet delivered, or delivered and not yet acked (read at scrape time)",
    labelNames: ["stream", "partition"],
    registers: r,
    async collect() {
      if (!sources.consumerBacklog) return;
      const backlog = await sources.consumerBacklog();
      this.reset(); // partitions this node gave up disappear
      for (const b of backlog) this.set({ stream: b.stream, partition: String(b.partition) }, b.waiting);
    },
  });
  new Gauge({
    name: "claw_partitions_owned",
    help: "Partitions this node runs",
    registers: r,
    collect() {
      this.set(sources.partitionsOwned());
    },
  });
  new Gauge({
    name: "claw_leader",
    help: "1 when this node holds the leader lease",
    registers: r,
    collect() {
      this.set(sources.leader() ? 1 : 0);
    },
  });
  new Gauge({
    name: "claw_ready",
    help: "1 while the node is ready to serve (GET /readyz answers 200)",
    registers: r,
    collect() {
      this.set(sources.ready?.() === false ? 0 : 1);
    },
  });
  new Gauge({
    name: "claw_bus_unavailable",
    help: "1 while NATS is unavailable to this node, labelled with why (nats_disconnected, nats_not_responding, jetstream_unavailable, storage_full)",
    labelNames: ["reason"],
    registers: r,
    collect() {
      this.reset();
      const problem = sources.busProblem?.();
      if (problem) this.set({ reason: problem }, 1);
    },
  });
  new Gauge({
    name: "claw_llm_circuit_open",
    help: "1 while a provider's circuit is open (it is skipped)",
    labelNames: ["provider"],
    registers: r,
    collect() {
      for (const [provider, open] of Object.entries(sources.llmCircuits?.() ?? {})) this.set({ provider }, open ? 1 : 0);
    },
  });
  new Gauge({
    name: "claw_sessions_active",
    help: "Session actors in memory",
    registers: r,
    collect() {
      this.set(sources.sessionsActive());
    },
  });
}
