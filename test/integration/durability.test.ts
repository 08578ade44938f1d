import { describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { startClaw } from "../support/claw-node.js";
import { natsServer } from "../support/nats-server.js";
import { collectReplies, jsonBody } from "../support/replies.js";

describe("durability across node crashes", () => {
  it("keeps session history when the node is killed and restarted", async () => {
    await using nats = await natsServer();
    const env = { NATS_URL: nats.url };
    const nc = await connect({ servers: nats.url });
    const out = await collectReplies(nc);
    const first = await startClaw({ env });
    for (const id of ["a", "b"]) {
      nc.publish("claw.in.d.acct.hist", jsonBody({ id, text: `turn ${id}`, sender: { id: "u" } }));
      await out.waitFor(id);
    }
    await first.kill("SIGKILL");
    await using second = await startClaw({ env });
    void second;
    nc.publish("claw.in.d.acct.hist", jsonBody({ id: "c", text: "/history", sender: { id: "u" } }));
    expect((await out.waitFor("c")).text).toBe("2 earlier turns\n1. turn a\n2. turn b");
    out.stop();
    await nc.close();
  });

  it("answers a message exactly once when the node dies in the middle of its turn", async () => {
    await using nats = await natsServer();
    const env = { NATS_URL: nats.url, CLAW_ACK_WAIT_MS: "1500" };
    const nc = await connect({ servers: nats.url });
    const out = await collectReplies(nc);
    const first = await startClaw({ env });
    nc.publish("claw.in.d.acct.crash", jsonBody({ id: "mid-1", text: "/slow 800", sender: { id: "u" } }));
    await new Promise((r) => setTimeout(r, 300));
    await first.kill("SIGKILL");
    expect(out.replies).toHaveLength(0);
    await using second = await startClaw({ env });
    void second;
    expect((await out.waitFor("mid-1", 8_000)).text).toBe("slept 800 ms");
    await new Promise((r) => setTimeout(r, 500));
    expect(out.replies.filter((r) => r.replyTo === "mid-1")).toHaveLength(1);
    out.stop();
    await nc.close();
  });
});
