/**
 * How a partition settles a message that does not reach a session: dropped
 * (a probe), dead-lettered (ingress said no) or forwarded to its partition's
 * session mailbox — acked only once the dead letter or the forward is
 * durable. And the ingress hop's span, which a turn records too.
 */
import { encode, H, publishDurable } from "../bus/index.js";
import type { IngressDecision } from "./ingress.js";
import { deadLetterRejected } from "./partition-dead-letters.js";
import type { PartitionScope, TakenMessage } from "./partition-message.js";

/** Settles a message ingress dropped, rejected or forwarded. */
export async function settleWithoutTurn(
  scope: PartitionScope,
  t: TakenMessage,
  d: Extract<IngressDecision, { kind: "drop" | "dead" | "forward" }>,
): Promise<void> {
  switch (d.kind) {
    case "drop":
      return t.m.ack();
    case "dead":
      await deadLetterRejected(scope, t, d);
      return t.m.ack();
    case "forward":
      await publishDurable(scope.bus.publisher, {
        subject: d.subject,
        data: encode(d.envelope),
        msgId: d.msgId,
        headers: {
          [H.node]: scope.nodeId,
          ...(d.envelope.trace.traceparent ? { [H.traceparent]: d.envelope.trace.traceparent } : {}),
          // counted against its tenant's quota at the gateway: still so where its turn runs
          ...(t.m.headers?.get(H.quotaCounted) === "1" ? { [H.quotaCounted]: "1" } : {}),
        },
      });
      scope.emit({ type: "message.forwarded", to: d.subject, ...t.log, partition: scope.partition });
      if (scope.tracing.enabled) traceIngress(scope, d, t.startMs);
      return t.m.ack();
  }
}

/** The ingress hop's span: from taking the message to handing it on. */
export function traceIngress(scope: PartitionScope, d: Extract<IngressDecision, { kind: "forward" | "turn" }>, startMs: number): void {
  const tp = d.envelope.trace.traceparent;
  if (!tp) return;
  scope.tracing.record({
    name: "claw.ingress",
    kind: "consumer",
    traceparent: tp,
    parent: d.traceParent,
    startMs,
    endMs: Date.now(),
    attributes: {
      "messaging.system": "nats",
      "messaging.message.id": d.envelope.id,
      "claw.partition": scope.partition,
      "claw.channel": d.envelope.channel,
      "claw.decision": d.kind,
    },
  });
}
