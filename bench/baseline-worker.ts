/**
 * The raw-JetStream baseline: the same hops as Claw's data path, with nothing
 * else. Pull from BASE_A, one KV get + update(revision) per message on the
 * session's key (serialised per session, as Claw does), publish to BASE_B and
 * wait for its ack, then ack. Run as its own process so its CPU is counted
 * like a Claw node's. Prints "ready" when consuming.
 */
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { decode, encode } from "../src/bus/index.js";

const url = process.argv[2] ?? "nats://127.0.0.1:4222";
const nc = await connect({ servers: url, noAsyncTraces: true });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
for (const [name, subject] of [
  ["BASE_A", "base.a.*"],
  ["BASE_B", "base.b.*"],
] as const) {
  await jsm.streams.add({ name, subjects: [subject], retention: RetentionPolicy.Workqueue, storage: StorageType.File, duplicate_window: 120e9 });
}
await jsm.consumers.add("BASE_A", { durable_name: "worker", ack_policy: AckPolicy.Explicit, max_ack_pending: 1024, max_deliver: -1 });
const kv = await new Kvm(js).create("base_sessions", { history: 1 });
const chains = new Map<string, Promise<void>>();
const consumer = await js.consumers.get("BASE_A", "worker");
await consumer.consume({
  max_messages: 256,
  callback: (m) => {
    const chat = m.subject.slice("base.a.".length);
    const body = JSON.parse(new TextDecoder().decode(m.data)) as { id: string; text: string };
    const run = async () => {
      const e = await kv.get(chat);
      const state = e && e.value.length > 0 ? decode<{ turns: number }>(e.value) : { turns: 0 };
      const next = encode({ turns: state.turns + 1, last: body.text.slice(0, 64) });
      await (e ? kv.update(chat, next, e.revision) : kv.create(chat, next));
      await js.publish(`base.b.${chat}`, encode({ replyTo: body.id, text: body.text }), { msgID: `${body.id}:reply` });
      m.ack();
    };
    const tail = (chains.get(chat) ?? Promise.resolve()).then(run, run);
    chains.set(
      chat,
      tail.catch(() => m.nak(100)),
    );
  },
});
process.stdout.write("ready\n");
process.on("SIGTERM", () => void nc.drain().then(() => process.exit(0)));
