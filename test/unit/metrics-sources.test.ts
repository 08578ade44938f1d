/**
 * A node's metrics are made in two halves (src/observability/metrics.ts):
 * the counters first, which its parts feed from their own start, and the
 * gauges read at scrape time once the parts they read exist.
 */
import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/observability/index.js";

describe("metrics", () => {
  it("count before the gauges' sources exist, and read the gauges only once given them", async () => {
    const m = createMetrics();
    m.messagesIn.inc({ channel: "telegram" });
    const before = await m.render();
    expect(before).toMatch(/^claw_messages_in_total\{channel="telegram"\} 1$/m);
    expect(before).not.toMatch(/^claw_partitions_owned /m);

    let owned = 3;
    m.readFrom({ partitionsOwned: () => owned, leader: () => true, sessionsActive: () => 7, ready: () => false });
    owned = 5;
    const after = await m.render();
    expect(after).toMatch(/^claw_partitions_owned 5$/m);
    expect(after).toMatch(/^claw_leader 1$/m);
    expect(after).toMatch(/^claw_sessions_active 7$/m);
    expect(after).toMatch(/^claw_ready 0$/m);
  });
});
