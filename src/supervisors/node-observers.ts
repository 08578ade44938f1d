/**
 * What a node's parts report, turned into metrics and log lines: one
 * function per source, so the composition root only wires them.
 */
import type { ChannelRunnerEvent } from "../adapters/index.js";
import type { PartitionEvent, SessionHostEvent } from "../actors/index.js";
import { hopTraceparent, type BusHealthEvent } from "../bus/index.js";
import type { ProviderCallEvent } from "../llm/index.js";
import type { ClawMetrics, Tracing } from "../observability/index.js";
import type { Logger } from "../log.js";
import type { SkillWorkerEvent } from "../skills/index.js";
import type { SupervisorEvent } from "./supervisor.js";

/**
 * Feeds metrics (and logs) from a partition runner's events; a turn answered `slowTurnMs` or later after its `ts` is logged at warn with where its time went.
 */
export function observePartition(e: PartitionEvent, metrics: ClawMetrics, log: Logger, slowTurnMs = 0): void {
  switch (e.type) {
    case "message.accepted":
      metrics.messagesIn.inc({ channel: e.channel });
      if (e.deliveries > 1) metrics.redeliveries.inc({ stage: e.stage });
      metrics.stageDuration.observe({ stage: "ingress" }, e.ingressMs / 1000);
      log.debug(e, e.type);
      return;
    case "message.settled":
      if (e.outcome === "answered") metrics.messagesOut.inc({ channel: e.channel });
      metrics.stageDuration.observe({ stage: "pickup" }, Math.max(0, e.pickupMs) / 1000);
      metrics.stageDuration.observe({ stage: "session" }, e.sessionMs / 1000);
      metrics.stageDuration.observe({ stage: "end_to_end" }, Math.max(0, e.endToEndMs) / 1000);
      if (e.timing) {
        metrics.stageDuration.observe({ stage: "queue" }, e.timing.queueMs / 1000);
        metrics.stageDuration.observe({ stage: "snapshot" }, e.timing.snapshotMs / 1000);
        // what a session not in memory costs first: its KV lookup (a miss when new), its actor, the write that creates it
        if (e.timing.spawn) {
          metrics.stageDuration.observe({ stage: "session_load" }, e.timing.spawn.loadMs / 1000);
          metrics.stageDuration.observe({ stage: "actor_create" }, e.timing.spawn.createMs / 1000);
        }
        if (e.timing.firstSnapshot) metrics.stageDuration.observe({ stage: "first_snapshot" }, e.timing.snapshotMs / 1000);
      }
      if (slowTurnMs > 0 && e.endToEndMs >= slowTurnMs) log.warn(e, "slow turn");
      else log.debug(e, e.type);
      return;
    case "message.dead":
      metrics.dlq.inc({ stage: e.stage, reason: e.code });
      log.warn(e, e.type);
      return;
    case "message.forwarded":
      log.debug(e, e.type);
      return;
    default:
      log.warn(e, e.type);
  }
}

/** Feeds metrics (and logs) from the session host's events. */
export function observeSessionHost(e: SessionHostEvent, metrics: ClawMetrics, log: Logger): void {
  switch (e.type) {
    case "session.passivated":
      metrics.sessionsPassivated.inc();
      log.debug(e, e.type);
      return;
    case "turn.held":
      metrics.turnsHeld.inc({ reason: e.code });
      log.info(e, e.type);
      return;
    case "turn.retrying":
      log.info(e, e.type);
      return;
    default:
      log.debug(e, e.type);
  }
}

/** Feeds metrics (and logs) from a supervisor's events. */
export function observeSupervisor(e: SupervisorEvent, metrics: ClawMetrics, log: Logger): void {
  if (e.type === "child.failed") metrics.actorRestarts.inc({ kind: e.child });
  if (e.type === "child.waiting") log.warn(e, `${e.child} waits for NATS (${e.reason})`);
  else log.error(e, e.type);
}

/** Feeds metrics (and logs) from the bus' health. */
export function observeBusHealth(e: BusHealthEvent, metrics: ClawMetrics, log: Logger): void {
  switch (e.type) {
    case "bus.unavailable":
      metrics.busOutages.inc({ reason: e.problem.code });
      log.warn({ reason: e.problem.reason, detail: e.problem.detail }, `NATS is unavailable (${e.problem.reason}): not ready; HTTP answers 503, turns wait`);
      return;
    case "bus.available":
      log.info({ down_ms: e.downMs }, `NATS is available again after ${e.downMs} ms`);
      return;
    case "bus.reconnected":
      log.info({ server: e.server }, "reconnected to NATS: taking the mailboxes over again");
      return;
  }
}

/** Feeds metrics (and logs) from what the channel runners report. */
export function observeChannel(e: ChannelRunnerEvent, metrics: ClawMetrics, log: Logger): void {
  switch (e.type) {
    case "channel.received":
      metrics.channelMessages.inc({ channel: e.channel, direction: "in" });
      return log.debug(e, e.type);
    case "channel.sent":
      metrics.channelMessages.inc({ channel: e.channel, direction: "out" });
      return log.debug(e, e.type);
    case "channel.dead":
      metrics.dlq.inc({ stage: e.stage, reason: e.code });
      return log.warn(e, e.type);
    case "channel.lost":
      metrics.channelLosses.inc({ channel: e.channel });
      return log.warn(e, e.type);
    case "channel.connected":
      return log.info(e, e.type);
    default:
      return log.warn(e, e.type);
  }
}

/** Feeds metrics (and logs) from what the skill workers report. */
export function observeSkillWorker(e: SkillWorkerEvent, metrics: ClawMetrics, log: Logger): void {
  if (e.type === "skill.completed") {
    // the id without its version: one series per skill, however many versions it has had
    // (a name no registry knows is anyone's input: not a label)
    const skill = e.code === "unknown_skill" ? "unknown" : e.skill.split("@")[0]!;
    metrics.skillInvocations.inc({ skill, outcome: e.ok ? "ok" : (e.code ?? "failed") });
    metrics.skillDuration.observe({ skill }, e.durationMs / 1000);
  }
  if (e.type === "skill.invalid" || e.type === "skill.unpublished" || e.type === "skill.pool.failed") log.warn(e, e.type);
  else if ((e.type === "skill.completed" && !e.ok) || e.type === "skill.stopped") log.info(e, e.type);
  else log.debug(e, e.type);
}

/** Feeds metrics and a client span per provider call (a child of the turn's span). */
export function observeLlm(e: ProviderCallEvent, metrics: ClawMetrics, tracing: Tracing, log: Logger): void {
  metrics.llmRequests.inc({ provider: e.provider, outcome: e.outcome });
  if (e.outcome === "skipped") return;
  metrics.llmDuration.observe({ provider: e.provider }, e.durationMs / 1000);
  if (e.usage) {
    metrics.llmTokens.inc({ provider: e.provider, kind: "prompt" }, e.usage.promptTokens);
    metrics.llmTokens.inc({ provider: e.provider, kind: "completion" }, e.usage.completionTokens);
  }
  if (e.outcome !== "ok")
    log.warn({ provider: e.provider, outcome: e.outcome, error: e.error, msg_id: e.messageId, attempt: e.attempt }, `LLM provider ${e.provider}: ${e.outcome}`);
  if (tracing.enabled && e.traceparent) {
    tracing.record({
      name: "claw.llm",
      kind: "client",
      traceparent: hopTraceparent(e.traceparent, e.messageId, `llm:${e.provider}:${e.attempt}`),
      parent: e.traceparent,
      startMs: e.startMs,
      endMs: e.startMs + e.durationMs,
      attributes: {
        "gen_ai.system": "openai",
        "claw.provider": e.provider,
        "claw.outcome": e.outcome,
        ...(e.usage ? { "gen_ai.usage.input_tokens": e.usage.promptTokens, "gen_ai.usage.output_tokens": e.usage.completionTokens } : {}),
      },
      error: e.outcome === "ok" ? undefined : e.error,
    });
  }
}
