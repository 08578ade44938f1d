/**
 * Waiting for dead letters in `CLAW_DLQ`.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { listDeadLetters, type DeadLetterRecord } from "../../src/bus/index.js";

/** Polls `CLAW_DLQ` until `pred` holds for the list (or times out). */
export async function waitForDeadLetters(jsm: JetStreamManager, pred: (all: DeadLetterRecord[]) => boolean, timeoutMs = 10_000): Promise<DeadLetterRecord[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await listDeadLetters(jsm, { limit: 10_000 });
    if (pred(all)) return all;
    if (Date.now() > deadline) throw new Error(`dead letters not as expected after ${timeoutMs} ms: ${JSON.stringify(all.map((d) => [d.seq, d.code]))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
