/**
 * A microbenchmark of Claw's own CPU per message, without NATS: ingress plus
 * the session host with a store and publisher that answer at once.
 *   npx tsx bench/micro-session-host.ts [turns] [sessions]
 * Profile with: node --cpu-prof --import tsx bench/micro-session-host.ts
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { AgentSpecSchema, startSessionHost, decideInbound, type SessionStore } from "../src/actors/index.js";
import { chatPartition, partitionedInboundSubject, type Envelope } from "../src/bus/index.js";
import { createScriptedModel } from "../src/llm/index.js";
import { createSkillCatalog } from "../src/skills/index.js";

const turns = Number(process.argv[2] ?? 20_000);
const sessions = Number(process.argv[3] ?? 1_000);
const js = { publish: async () => ({ stream: "X", seq: 1, duplicate: false, domain: "" }) } as unknown as JetStreamClient;
const store: SessionStore = { load: async () => ({ snapshot: undefined, revision: 0 }), save: async (_k, _s, r) => r + 1 };
const agent = AgentSpecSchema.parse({ id: "echo" });
const scripted = createScriptedModel();
const host = startSessionHost({
  store,
  deps: { js, nodeId: "micro", partitions: 64, agent: () => agent, model: () => scripted, skills: createSkillCatalog([]) },
  maxDeliver: 5,
  backoff: { baseMs: 10, factor: 2, maxMs: 10 },
  idleMs: 600_000,
  turnTimeoutMs: 10_000,
  keepAliveMs: 10_000,
});
const body = (id: string) => new TextEncoder().encode(JSON.stringify({ id, text: "x".repeat(240), sender: { id: "u" } }));

async function run(round: string): Promise<{ wall: number; cpu: number }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let batch: Promise<unknown>[] = [];
  for (let i = 0; i < turns; i++) {
    const addr = { channel: "b", account: "a", chat: `c${i % sessions}` };
    const p = chatPartition(addr, 64);
    const d = decideInbound(
      { subject: partitionedInboundSubject(p, addr), data: body(`${round}-${i}`), header: () => undefined, seq: i, idPrefix: "p", storedAt: Date.now() },
      { agents: [agent], partitions: 64, partition: p, maxPayload: 1 << 20 },
    );
    const envelope = (d as { envelope: Envelope }).envelope;
    batch.push(host.deliver({ agent, session: `b:a:${addr.chat}`, envelope, deliveries: 1, keepAlive: () => {}, onFailed: async () => {} }));
    if (batch.length >= 500) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
  const c = process.cpuUsage(c0);
  // CPU time as well as wall time: on a busy machine the CPU time per message is the steadier number
  return { wall: ((performance.now() - t0) * 1000) / turns, cpu: (c.user + c.system) / turns };
}

await run("warm-up");
const us = await run("measured");
await host.stop();
process.stdout.write(
  JSON.stringify({ turns, sessions, microsPerMessage: Math.round(us.wall * 10) / 10, cpuMicrosPerMessage: Math.round(us.cpu * 10) / 10 }) + "\n",
);
