/**
 * Header names Claw sets on bus messages. `Nats-Msg-Id` is JetStream's
 * de-duplication key; the `Claw-*` headers are Claw's own.
 */
export const H = {
  msgId: "Nats-Msg-Id",
  contentType: "Content-Type",
  traceparent: "traceparent",
  /**
   * The envelope id of a message, carried on dead letters and their replays so
   * a replayed message keeps its id (and its sender can still match the reply).
   */
  clawMsgId: "Claw-Msg-Id",
  /** node that published */
  node: "Claw-Node",
  /** marks the start-up probe that detects the partition mapping */
  probe: "Claw-Probe",
  /**
   * `1` on a message the gateway published for a caller whose tenant's `messagesPerMinute` it counted already
   * (a partition does not count it again)
   */
  quotaCounted: "Claw-Quota-Counted",
  /** what a session mailbox message is: `turn` (a forwarded envelope; the default), `tool.result`, `tool.deadline` */
  mail: "Claw-Mail",
  dlq: {
    reason: "Claw-Dlq-Reason",
    code: "Claw-Dlq-Code",
    stage: "Claw-Dlq-Stage",
    subject: "Claw-Dlq-Subject",
    deliveries: "Claw-Dlq-Deliveries",
    firstError: "Claw-Dlq-First-Error",
    lastError: "Claw-Dlq-Last-Error",
    node: "Claw-Dlq-Node",
    time: "Claw-Dlq-Time",
    streamSeq: "Claw-Dlq-Stream-Seq",
    field: "Claw-Dlq-Field",
  },
} as const;
