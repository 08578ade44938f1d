/**
 * Asking every node at once (core NATS request, many replies): what the
 * cluster-wide listings (live actors, channel accounts) are built on.
 */
import type { NatsConnection } from "@nats-io/transport-node";

/**
 * Publishes `body` on `subject` and collects the JSON replies that `accept`
 * takes, until the nodes have gone quiet for a moment (150 ms) or `maxWaitMs`
 * has passed; no reply at all is an empty list, not an error.
 */
export async function askAll<T>(nc: NatsConnection, subject: string, body: string, accept: (v: unknown) => v is T, maxWaitMs = 600): Promise<T[]> {
  const out: T[] = [];
  try {
    const replies = await nc.requestMany(subject, body, { strategy: "stall", stall: 150, maxWait: maxWaitMs });
    for await (const m of replies) {
      try {
        const v = m.json<unknown>();
        if (accept(v)) out.push(v);
      } catch {
        /* not JSON */
      }
    }
  } catch {
    /* no replies in time */
  }
  return out;
}
