/**
 * `claw send`: publish one message the way any outside system would (JSON on
 * `claw.in.<channel>.<account>.<chat>`) and print the reply from `claw.out.…`.
 */
import { jetstream } from "@nats-io/jetstream";
import { nuid } from "@nats-io/transport-node";
import { decode, inboundSubject, outboundSubject, publishDurable, type Envelope } from "../bus/index.js";
import { cliConnect } from "./cli-connection.js";

/** Options of {@link sendCommand}. */
export interface SendOptions {
  channel: string;
  account: string;
  chat: string;
  text: string;
  sender: string;
  timeoutMs: number;
  json: boolean;
}

/** Sends and waits for the reply. Returns the exit code. */
export async function sendCommand(o: SendOptions): Promise<number> {
  const nc = await cliConnect();
  try {
    const addr = { channel: o.channel, account: o.account, chat: o.chat };
    const id = nuid.next();
    const sub = nc.subscribe(outboundSubject(addr));
    const timer = setTimeout(() => sub.unsubscribe(), o.timeoutMs);
    await publishDurable(
      jetstream(nc),
      {
        subject: inboundSubject(addr),
        data: new TextEncoder().encode(JSON.stringify({ id, text: o.text, sender: { id: o.sender } })),
        msgId: id,
        headers: { "Content-Type": "application/json" },
      },
      { totalMs: o.timeoutMs },
    );
    for await (const m of sub) {
      const reply = decode<Envelope>(m.data);
      if (reply.replyTo !== id) continue;
      clearTimeout(timer);
      process.stdout.write(o.json ? JSON.stringify(reply) + "\n" : `${reply.text ?? ""}\n`);
      return reply.kind === "error" ? 1 : 0;
    }
    process.stderr.write(`claw: no reply within ${o.timeoutMs} ms (message ${id} was accepted)\n`);
    return 1;
  } finally {
    await nc.close();
  }
}
