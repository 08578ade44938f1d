import { describe, expect, it } from "vitest";
import { startSessionHost, createSessionStore, AgentSpecSchema } from "../../src/actors/index.js";
import {
  bucketSpecs,
  BUCKETS,
  connectBus,
  decode,
  defaultSpecOptions,
  encode,
  ensureBucket,
  ensureStream,
  sessionKey,
  streamSpecs,
  type Envelope,
} from "../../src/bus/index.js";
import { createScriptedModel, type Turn } from "../../src/llm/index.js";
import { createSkillCatalog } from "../../src/skills/index.js";
import { natsServer } from "../support/nats-server.js";
import { collectStreamReplies } from "../support/replies.js";

const agent = AgentSpecSchema.parse({ id: "echo" });
const message = (id: string, text: string): Envelope => ({
  id,
  ts: Date.now(),
  channel: "t",
  account: "a",
  chat: "c",
  sender: { id: "u" },
  kind: "message",
  text,
  media: [],
  metadata: {},
  trace: {},
});

describe("session snapshots under optimistic concurrency", () => {
  it("reloads on a KV revision conflict and loses no turn", async () => {
    await using nats = await natsServer();
    const bus = await connectBus({ servers: [nats.url], name: "test" });
    try {
      for (const s of streamSpecs(defaultSpecOptions())) await ensureStream(bus.jsm, s, () => {});
      for (const b of bucketSpecs(defaultSpecOptions())) await ensureBucket(bus.kvm, b);
      const kv = await bus.kvm.open(BUCKETS.sessions);
      const events: string[] = [];
      const scripted = createScriptedModel();
      const host = startSessionHost({
        store: createSessionStore(kv),
        deps: { js: bus.js, nodeId: "test", partitions: 64, agent: () => agent, model: () => scripted, skills: createSkillCatalog([]) },
        maxDeliver: 5,
        backoff: { baseMs: 10, factor: 2, maxMs: 50 },
        idleMs: 60_000,
        turnTimeoutMs: 5_000,
        keepAliveMs: 1_000,
        onEvent: (e) => events.push(e.type === "turn.retrying" ? `retrying:${e.error}` : e.type),
      });
      const out = await collectStreamReplies(bus.js, bus.jsm);
      const turn = (id: string, text: string) =>
        host.deliver({ agent, session: "t:a:c", envelope: message(id, text), deliveries: 1, keepAlive: () => {}, onFailed: async () => {} });

      expect(await turn("m1", "first")).toMatchObject({ kind: "answered" });

      // another owner moves the session on behind this host's back
      const key = sessionKey("echo", "t:a:c");
      const current = (await kv.get(key))!;
      const stored = decode<{ v: number; snapshot: { context: { history: Turn[]; turns: number; lastTurnId: string } } }>(current.value);
      stored.snapshot.context.history.push(
        { role: "user", text: "elsewhere", id: "x1", ts: 1 },
        { role: "assistant", text: "elsewhere", id: "x1:reply:0", ts: 1 },
      );
      stored.snapshot.context.turns += 1;
      stored.snapshot.context.lastTurnId = "x1";
      await kv.update(key, encode(stored), current.revision);

      expect(await turn("m2", "second")).toMatchObject({ kind: "answered" });
      expect(events.filter((e) => e.startsWith("retrying:"))).toEqual(["retrying:session echo.t=3Aa=3Ac was written by another owner"]);

      const final = decode<{ snapshot: { context: { history: Turn[]; turns: number } } }>((await kv.get(key))!.value).snapshot.context;
      expect(final.history.filter((t) => t.role === "user").map((t) => t.text)).toEqual(["first", "elsewhere", "second"]);
      expect(final.turns).toBe(3);
      await out.waitFor("m2");
      await new Promise((r) => setTimeout(r, 200));
      // the first try published its reply before the conflict; the retry's is absorbed by the msg id
      expect(out.replies.map((r) => r.replyTo)).toEqual(["m1", "m2"]);
      out.stop();
      await host.stop();
    } finally {
      await bus.close();
    }
  });
});
