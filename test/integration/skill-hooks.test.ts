/**
 * Skill hooks through real agent turns: a `before` hook (a skill registered
 * through the API, run in the sandbox) denies a call or changes its input, an
 * `after` hook (`redact.secrets`) masks a key in the output before the model,
 * the transcript and the chat see it, `audit.log` records the call in
 * CLAW_AUDIT, and a hook that cannot run fails the call closed.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { sessionKey, STREAMS } from "../../src/bus/index.js";
import { createBubblewrapDriver } from "../../src/skills/index.js";
import { startClaw } from "../support/claw-node.js";
import { client, natsServer } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody } from "../support/replies.js";

const NO_DELETES = `export default {
  async run({ input }) {
    if (String(input.text).includes("rm -rf")) return { deny: "no deleting things" };
    return { input: { text: input.text + " (checked)" } };
  },
};`;

const agent = {
  id: "guarded",
  skills: ["echo", "time.now"],
  toolTimeoutMs: 20_000,
  hooks: {
    after: ["redact.secrets", "audit.log"],
    skills: { echo: { before: ["no.deletes@^1"] }, "time.now": { before: ["missing.hook"] } },
  },
};

describe("skill hooks", () => {
  it("denies, changes and redacts an agent's tool calls, records them, and fails closed when a hook cannot run", async () => {
    const check = await createBubblewrapDriver().check();
    if (!check.ok) throw new Error(`the before hook runs in bubblewrap, which cannot run here: ${check.reason}`);
    await using nats = await natsServer();
    await using c = await client(nats.url);
    const config = join(tmpdir(), `claw-hooks-${process.pid}.json`);
    await writeFile(config, JSON.stringify({ agents: [agent] }));
    await using claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_CONFIG: config } });
    const registered = await fetch(`http://127.0.0.1:${claw.httpPort}/v1/skills`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        id: "no.deletes",
        version: "1.0.0",
        description: "a before hook: no rm -rf",
        runtime: "node",
        entrypoint: ["index.mjs"],
        files: { "index.mjs": Buffer.from(NO_DELETES).toString("base64") },
      }),
    });
    expect(registered.status, await registered.text()).toBeLessThan(300);
    const out = await collectStreamReplies(c.js, c.jsm);
    const send = (id: string, text: string) => c.js.publish("claw.in.t.a.c1", jsonBody({ id, text, sender: { id: "u" } }));

    await send("h-1", '/tool echo {"text":"rm -rf /"}');
    expect((await out.waitFor("h-1", 30_000)).text).toBe("echo failed: error (denied): denied by no.deletes@^1: no deleting things");

    const key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
    await send("h-2", JSON.stringify(`/tool echo {"text":"the key is ${key}"}`).slice(1, -1).replaceAll('\\"', '"'));
    const redacted = (await out.waitFor("h-2", 30_000)).text!;
    expect(redacted).toBe('echo: {"text":"the key is [REDACTED] (checked)"}');
    expect(redacted).not.toContain("abcdefghijklmnop");

    await send("h-3", "/tool time.now {}");
    expect((await out.waitFor("h-3", 30_000)).text).toMatch(
      /^time\.now failed: error \(hook_failed\): hook missing\.hook failed, so the call did not go through/,
    );

    // audit.log recorded the call that went through, after redact.secrets had masked it
    const name = `audit-${Math.random().toString(36).slice(2, 8)}`;
    await c.jsm.consumers.add(STREAMS.audit, { name, filter_subject: "claw.audit.skills", ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
    const consumer = await c.js.consumers.get(STREAMS.audit, name);
    const records: Array<{ who: string; what: string; from: string; detail?: string }> = [];
    for await (const m of await consumer.fetch({ max_messages: 10, expires: 2_000 })) records.push(m.json());
    expect(records.map((r) => [r.who, r.what, r.from])).toEqual([["agent:guarded", "skill echo (after)", sessionKey("guarded", "t:a:c1")]]);
    expect(records[0]!.detail).toBe('{"text":"the key is [REDACTED] (checked)"}');
    out.stop();
  }, 120_000);
});
