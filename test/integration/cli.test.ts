import { describe, expect, it } from "vitest";
import { freePort } from "../../src/bus/index.js";
import { runCli } from "../support/claw-cli.js";
import { startClaw } from "../support/claw-node.js";
import { natsServer } from "../support/nats-server.js";

const claw = runCli;

describe("claw CLI", () => {
  it("send publishes like an outside system and prints the reply; tail shows the traffic", async () => {
    await using nats = await natsServer();
    await using node = await startClaw({ env: { NATS_URL: nats.url } });
    void node;
    const env = { NATS_URL: nats.url };
    let tailReady!: () => void;
    const ready = new Promise<void>((r) => (tailReady = r));
    const tail = claw(["tail", "claw.out.>"], env, 10_000, (text, kill) => {
      if (text.includes("hello from the cli")) kill();
    });
    // give tail time to subscribe before sending
    setTimeout(tailReady, 500);
    await ready;
    const sent = await claw(["send", "terminal", "me", "hello", "from", "the", "cli"], env);
    expect(sent.stderr).toBe("");
    expect(sent.stdout).toBe("hello from the cli\n");
    expect(sent.code).toBe(0);
    const tailed = await tail;
    expect(tailed.stdout).toMatch(/claw\.out\.terminal\.cli\.me reply from=echo replyTo=\S+ "hello from the cli"/);
  });

  it("send exits 1 when the agent fails, printing the error notice", async () => {
    await using nats = await natsServer();
    await using node = await startClaw({ env: { NATS_URL: nats.url } });
    void node;
    const r = await claw(["send", "terminal", "me", "/fail", "bad"], { NATS_URL: nats.url });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("could not process");
  });

  it("prints a useful error, not a stack trace, when NATS is unreachable", async () => {
    const r = await claw(["send", "x", "y", "z"], { NATS_URL: `nats://127.0.0.1:${await freePort()}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^claw: cannot reach NATS at nats:\/\/127\.0\.0\.1:\d+ .*Is a Claw node running/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("cluster shows the members, the leader and who owns each partition", async () => {
    await using nats = await natsServer();
    await using node = await startClaw({ env: { NATS_URL: nats.url, CLAW_NODE_ID: "solo" } });
    void node;
    type Status = { leader: string; epoch: number; members: Array<{ node: string; partitions: number }>; partitions: Array<{ owner: string }> };
    let s: Status;
    // the member's heartbeat reports its partition count within a heartbeat interval
    for (let i = 0; ; i++) {
      const json = await claw(["cluster", "--json"], { NATS_URL: nats.url });
      expect(json.code).toBe(0);
      s = JSON.parse(json.stdout) as Status;
      if (s.members[0]?.partitions === 64 || i === 10) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(s.leader).toBe("solo");
    expect(s.epoch).toBeGreaterThanOrEqual(1);
    expect(s.members.map((m) => m.node)).toEqual(["solo"]);
    expect(s.partitions).toHaveLength(64);
    expect(s.partitions.every((p) => p.owner === "solo")).toBe(true);
    const table = await claw(["cluster"], { NATS_URL: nats.url });
    expect(table.stdout).toMatch(/^leader: solo\s+assignment epoch: \d+\s+members: 1/);
    expect(table.stdout).toMatch(/^solo \*\s+64\s+0\s+0\s+0\s+\d+s$/m);
  });

  it("prints usage for an unknown command", async () => {
    const r = await claw(["frobnicate"], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command: frobnicate");
    expect(r.stderr).toContain("usage: claw");
  });
});
