/**
 * `claw backup` of a live node and `claw restore` into a NATS server with an
 * empty store: every session's history comes back (the node answers
 * `/history` with the turns before the backup), the messages that were
 * pending come back and are answered, registered agents and API keys come
 * back, and a restore into streams that hold messages is refused.
 */
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { decode, natsClusterPlan, startNatsServer, STREAMS, type Envelope, type NatsServerProcess } from "../../src/bus/index.js";
import { runCli } from "../support/claw-cli.js";
import { startClaw } from "../support/claw-node.js";
import { client, natsServer } from "../support/nats-server.js";
import { until } from "../support/until.js";

const SESSIONS = 8;

describe("backup and restore", () => {
  it("brings back every session's history and every pending message into an empty store", async () => {
    const dir = await mkdtemp(join(tmpdir(), "claw-backup-"));
    let pendingIds: string[] = [];
    let keyLine = "";
    {
      await using nats = await natsServer();
      await using node = await startClaw({ env: { NATS_URL: nats.url, CLAW_NODE_ID: "b1" } });
      const invoke = async (session: string, text: string) => {
        const res = await fetch(`http://127.0.0.1:${node.httpPort}/v1/agents/echo/invoke`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ text, session }),
        });
        expect(res.status).toBe(200);
      };
      for (let s = 0; s < SESSIONS; s++) for (const t of ["first", "second"]) await invoke(`s${s}`, `${t} of s${s}`);
      expect(
        (
          await fetch(`http://127.0.0.1:${node.httpPort}/v1/agents`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ id: "kept", system: "kept across a restore" }),
          })
        ).status,
      ).toBe(201);
      keyLine = (await runCli(["keys", "create", "--scopes", "agents:invoke", "--json"], { NATS_URL: nats.url })).stdout;

      // the node holds still (its process and connections live on) while messages arrive: they are pending
      node.child.kill("SIGSTOP");
      await using c = await client(nats.url);
      pendingIds = await Promise.all(
        Array.from({ length: 5 }, async (_, i) => {
          const id = `pending-${i}`;
          await c.js.publish(`claw.in.t.a.pending-${i}`, new TextEncoder().encode(JSON.stringify({ id, text: `pending ${i}`, sender: { id: "u" } })), {
            msgID: id,
          });
          return id;
        }),
      );
      const backedUp = await runCli(["backup", dir], { NATS_URL: nats.url }, 60_000);
      expect(backedUp.code, backedUp.stderr).toBe(0);
      expect(backedUp.stderr).toMatch(/backing up CLAW_TRANSCRIPTS: \d+\/\d+/);
      node.child.kill("SIGCONT");
    }
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as { streams: Record<string, number> };
    expect(manifest.streams[STREAMS.transcripts]).toBe(SESSIONS * 2);
    expect(manifest.streams[STREAMS.in]).toBeGreaterThanOrEqual(5);
    expect(manifest.streams).not.toHaveProperty("KV_claw_members");

    // a new server with nothing in it
    await using fresh = await natsServer();
    const restored = await runCli(["restore", dir], { NATS_URL: fresh.url }, 60_000);
    expect(restored.code, `${restored.stdout}\n${restored.stderr}`).toBe(0);
    expect(restored.stdout).toMatch(/restored \d+ messages of \d+ streams/);
    // a second restore would mix: refused, naming the stream
    const again = await runCli(["restore", dir], { NATS_URL: fresh.url }, 60_000);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds \d+ messages: restore into an empty NATS, or pass --force/);

    await using c = await client(fresh.url);
    const replies: Envelope[] = [];
    const sub = c.nc.subscribe("claw.out.>", { callback: (_e, m) => replies.push(decode<Envelope>(m.data)) });
    await using node = await startClaw({ env: { NATS_URL: fresh.url, CLAW_NODE_ID: "b2" } });
    // what was pending is answered
    await until(() => pendingIds.every((id) => replies.some((r) => r.replyTo === id)), "the pending messages answered", 20_000);
    // every session remembers its turns
    for (let s = 0; s < SESSIONS; s++) {
      const res = await fetch(`http://127.0.0.1:${node.httpPort}/v1/agents/echo/invoke`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: "/history", session: `s${s}` }),
      });
      const body = (await res.json()) as { reply: { text: string } };
      expect(body.reply.text).toContain(`first of s${s}`);
      expect(body.reply.text).toContain(`second of s${s}`);
    }
    // the agent registered over HTTP, and the API key
    const agents = (await (await fetch(`http://127.0.0.1:${node.httpPort}/v1/agents`)).json()) as { agents: Array<{ spec: { id: string } }> };
    expect(agents.agents.map((a) => a.spec.id)).toContain("kept");
    const keyId = (JSON.parse(keyLine) as { id: string }).id;
    expect((await runCli(["keys", "ls", "--json"], { NATS_URL: fresh.url })).stdout).toContain(keyId);
    sub.unsubscribe();
  }, 120_000);

  it("waits for a cluster that is still forming, then restores into it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "claw-backup-forming-"));
    {
      await using nats = await natsServer();
      await using c = await client(nats.url);
      const kv = await new Kvm(c.js).create("claw_registry", { history: 5 });
      for (let i = 0; i < 20; i++) await kv.put(`agents.a${i}`, JSON.stringify({ id: `a${i}` }));
      const backedUp = await runCli(["backup", dir], { NATS_URL: nats.url }, 60_000);
      expect(backedUp.code, backedUp.stderr).toBe(0);
    }
    const plan = await natsClusterPlan(3);
    const servers: NatsServerProcess[] = [];
    try {
      // one server of three: no JetStream yet
      servers.push(await startNatsServer(plan[0]!));
      let stderr = "";
      const restoring = runCli(["restore", dir], { NATS_URL: plan.map((p) => p.url).join(",") }, 150_000, undefined, (t) => (stderr = t));
      await until(() => stderr.includes("JetStream is not ready"), "the restore to say it waits", 30_000);
      servers.push(await startNatsServer(plan[1]!), await startNatsServer(plan[2]!));
      const restored = await restoring;
      expect(restored.code, `${restored.stdout}\n${restored.stderr}`).toBe(0);
      expect(restored.stdout).toMatch(/restored 20 messages of 1 streams/);
      await using c = await client(plan[1]!.url);
      const kv = await new Kvm(c.js).open("claw_registry");
      expect((await kv.get("agents.a19"))?.json()).toEqual({ id: "a19" });
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  }, 180_000);
});
