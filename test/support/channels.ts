/**
 * What the channel tests share: a `CLAW_CONFIG` with channel accounts, and
 * a list of what arrived with a wait for its length.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { channelConsumerName, encode, outboundSubject, STREAMS, type Envelope } from "../../src/bus/index.js";

/** Writes a `CLAW_CONFIG` with the `echo` agent, `channels` and whatever else `more` says (agents, rateLimits, …); resolves with its path. */
export async function channelConfig(channels: unknown[], more: Record<string, unknown> = {}): Promise<string> {
  const path = join(tmpdir(), `claw-channels-${process.pid}-${Math.random().toString(36).slice(2, 8)}.json`);
  await writeFile(path, JSON.stringify({ agents: [{ id: "echo" }], channels, ...more }));
  return path;
}

/** Items as they arrive (`got`), and a wait until there are `n` of them. */
export interface Arrivals<T> {
  readonly got: T[];
  until(n: number, timeoutMs?: number): Promise<void>;
}

/** An empty {@link Arrivals}; `what` names it in a timeout's message. */
export function arrivals<T>(what: string): Arrivals<T> {
  const got: T[] = [];
  return {
    got,
    async until(n, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (got.length < n) {
        if (Date.now() > deadline) throw new Error(`${got.length} of ${n} messages on ${what} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/**
 * Publishes a reply on `claw.out.<type>.<account>.<chat>` as an outside
 * system would (a notification, a reply with media): the account's runner
 * sends it natively.
 */
export async function publishReply(
  natsUrl: string,
  type: string,
  account: string,
  chat: string,
  reply: { text?: string; media?: Envelope["media"]; metadata?: Record<string, unknown> },
): Promise<string> {
  const nc = await connect({ servers: natsUrl });
  try {
    const id = `test-reply-${Math.random().toString(36).slice(2, 10)}`;
    const envelope: Envelope = {
      id,
      ts: Date.now(),
      channel: type,
      account,
      chat,
      sender: { id: "test" },
      kind: "reply",
      text: reply.text,
      media: reply.media ?? [],
      metadata: reply.metadata ?? {},
      trace: {},
    };
    await jetstream(nc).publish(outboundSubject({ channel: type, account, chat }), encode(envelope), { msgID: id });
    return id;
  } finally {
    await nc.close();
  }
}

/**
 * Waits until every reply of a channel account that its node took is acked on `CLAW_OUT`. A reply goes to the
 * platform at least once: sent, then acked, and a node SIGKILLed between the two leaves it to the next node, which
 * sends it again. A test that kills a node to show what moves (and what is not done twice) waits for this first.
 */
export async function untilRepliesAcked(natsUrl: string, channel: string, account: string, timeoutMs = 15_000): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const name = channelConsumerName(channel, account);
    for (const deadline = Date.now() + timeoutMs; (await jsm.consumers.info(STREAMS.out, name)).num_ack_pending > 0;) {
      if (Date.now() > deadline) throw new Error(`${channel}/${account}: replies still unacked after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await nc.close();
  }
}
