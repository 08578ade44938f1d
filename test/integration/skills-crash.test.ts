/**
 * A node SIGKILLed while it runs a skill: the invocation comes back (after
 * its ack wait) to another node of the pool, which runs an idempotent skill
 * again and answers a non-idempotent one `crashed` — it is never re-run
 * silently.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { connectBus } from "../../src/bus/index.js";
import { invokeSkill, parseSkillDescriptor } from "../../src/skills/index.js";
import { startClaw } from "../support/claw-node.js";
import { natsServer } from "../support/nats-server.js";

describe("skills when their node dies", () => {
  it("runs an idempotent skill again elsewhere, and answers a non-idempotent one `crashed`", async () => {
    await using nats = await natsServer();
    const env = { NATS_URL: nats.url, CLAW_ACK_WAIT_MS: "2000" };
    // disposed even when the test fails before it is killed
    await using first = await startClaw({ env: { ...env, CLAW_NODE_ID: "a", CLAW_LOG_LEVEL: "debug" } });
    const bus = await connectBus({ servers: [nats.url], name: "test" });
    try {
      const bash = parseSkillDescriptor(JSON.parse(await readFile(new URL("../../skills/bash/skill.json", import.meta.url), "utf8")));
      const sleep = parseSkillDescriptor({ id: "time.sleep", version: "1.0.0", description: "d", runtime: "builtin", input: { type: "object" } });
      const resolve = (id: string) => (id === "bash" ? bash : sleep);
      // both start on the only node there is
      const once = invokeSkill(bus, resolve, { skill: "bash", input: { command: "sleep 3; echo ran" }, timeoutMs: 30_000 });
      const again = invokeSkill(bus, resolve, { skill: "time.sleep", input: { ms: 3_000 }, timeoutMs: 30_000 });
      // killed once both runs have started, and before the 3 s sleeps can end, however slow the machine
      await first.waitForLogs((l) => l.msg === "skill.received", 2, 10_000);
      await first.kill("SIGKILL");
      // the redeliveries (after the 2 s ack wait) can only go to this one
      await using second = await startClaw({ env: { ...env, CLAW_NODE_ID: "b" } });
      void second;
      const [a, b] = await Promise.all([once, again]);
      expect(a).toMatchObject({ kind: "failed", error: { code: "crashed", message: expect.stringContaining("not idempotent") } });
      expect(b).toMatchObject({ kind: "ok", skill: "time.sleep@1.0.0", output: { slept: 3_000 } });
    } finally {
      await bus.close();
    }
  }, 60_000);
});
