/**
 * The facts a partition runner reports, for logs and metrics
 * (`supervisors/node-observers.ts` turns them into both).
 */
import type { MessageLogFields, TurnOutcome, TurnTiming } from "./session-requests.js";

/** Facts a partition runner reports, for logs and metrics. */
export type PartitionEvent =
  | ({ type: "message.dead"; partition: number; stage: string; code: string; reason: string; subject: string } & MessageLogFields)
  | ({ type: "message.forwarded"; partition: number; to: string } & MessageLogFields)
  | { type: "consumer.failed"; partition: number; stage: string; error: string }
  | { type: "delivery.gap"; partition: number; stage: string; expected: number; got: number }
  /** a message reached its session (ingress done); `pending` is what waits behind it in this consumer */
  | ({ type: "message.accepted"; partition: number; stage: string; channel: string; deliveries: number; pending: number; ingressMs: number } & MessageLogFields)
  /**
   * a session turn ended and its message was settled: `pickupMs` from being stored in its stream
   * to its pickup here, `sessionMs` from then to the end of its turn (of which `timing` tells
   * where), `endToEndMs` from the message's `ts` (by default: when it was stored)
   */
  | ({
      type: "message.settled";
      partition: number;
      stage: string;
      channel: string;
      outcome: TurnOutcome["kind"];
      /** the agent's stored id */
      agent: string;
      pickupMs: number;
      sessionMs: number;
      endToEndMs: number;
      timing?: TurnTiming;
    } & MessageLogFields);
