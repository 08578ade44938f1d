import { describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { chatPartition, inboundSubject, parseInboundSubject, probePartitionMapping } from "../../src/bus/index.js";
import { startClaw } from "../support/claw-node.js";
import { natsServer } from "../support/nats-server.js";
import { collectReplies, jsonBody } from "../support/replies.js";

describe("partitioning on a real nats-server", () => {
  it("computes the same partition as the server's mapping for hostile tokens", async () => {
    await using nats = await natsServer();
    const nc = await connect({ servers: nats.url });
    const sub = nc.subscribe("claw.in.*.*.*.*");
    const addrs = Array.from({ length: 300 }, (_, i) => ({ channel: ["tg", "slack", "w.a"][i % 3]!, account: `acct ${i % 5}`, chat: `${i * 7919}:é*${i}` }));
    const seen: Array<[number, number]> = [];
    const done = (async () => {
      for await (const m of sub) {
        const p = parseInboundSubject(m.subject)!;
        seen.push([p.partition!, chatPartition(p, 64)]);
        if (seen.length === addrs.length) break;
      }
    })();
    for (const a of addrs) nc.publish(inboundSubject(a), new Uint8Array());
    await done;
    await nc.close();
    expect(seen.filter(([server, ours]) => server !== ours)).toEqual([]);
    expect(new Set(seen.map(([s]) => s)).size).toBeGreaterThan(50);
  });

  it("detects a mapped, an unmapped and a mismatched server", async () => {
    await using mapped = await natsServer();
    await using unmapped = await natsServer({ partitionMapping: false });
    await using other = await natsServer({ partitions: 16 });
    const results = [];
    for (const s of [mapped, unmapped, other]) {
      const nc = await connect({ servers: s.url });
      results.push((await probePartitionMapping(nc, "n1", 64)).kind);
      await nc.close();
    }
    expect(results).toEqual(["mapped", "unmapped", "mismatch"]);
  });

  it("falls back to a router, with a warning, when the server does not partition", async () => {
    await using nats = await natsServer({ partitionMapping: false });
    await using claw = await startClaw({ env: { NATS_URL: nats.url } });
    expect(claw.logs.find((l) => l.msg === "claw node started")?.partitioning).toBe("router");
    expect(claw.logs.some((l) => l.level === 40 && String(l.msg).includes("falling back to a router"))).toBe(true);
    const nc = await connect({ servers: nats.url });
    const out = await collectReplies(nc);
    for (let i = 0; i < 30; i++) nc.publish("claw.in.raw.acct.chat", jsonBody({ id: `r${i}`, text: `${i}`, sender: { id: "u" } }));
    await out.waitForCount(30);
    expect(out.replies.map((r) => Number(r.text))).toEqual(Array.from({ length: 30 }, (_, i) => i));
    out.stop();
    await nc.close();
  });

  it("refuses to start against a server that partitions differently", async () => {
    await using nats = await natsServer({ partitions: 16 });
    await expect(startClaw({ env: { NATS_URL: nats.url } })).rejects.toThrow(/partitions claw\.in\.> differently/);
  });
});
