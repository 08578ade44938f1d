/**
 * Nodes and NATS start together (Kubernetes, compose): a node whose
 * 3-server cluster is still forming waits for it — alive, not ready, and
 * saying why (`jetstream: forming`) — instead of exiting with "no suitable
 * peers for placement", and serves once the cluster has formed.
 */
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { natsClusterPlan, startNatsServer, type NatsServerProcess } from "../../src/bus/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { collectReplies, jsonBody } from "../support/replies.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readyz(port: number): Promise<{ status: number; reasons: string[] }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { reasons?: string[] };
  return { status: res.status, reasons: body.reasons ?? [] };
}

describe("a node started before its NATS cluster has formed", () => {
  it("is not ready while JetStream forms (and says so), then ready and serving once the cluster is", async () => {
    const plan = await natsClusterPlan(3);
    const servers: NatsServerProcess[] = [];
    let node: ClawProcess | undefined;
    try {
      // one server of three: no quorum, JetStream answers nothing
      servers.push(await startNatsServer(plan[0]!));
      node = await startClaw({
        env: { NATS_URL: plan.map((s) => s.url).join(","), CLAW_NODE_ID: "early", CLAW_REPLICAS: "3" },
        until: "listening",
        timeoutMs: 30_000,
      });
      await node.waitForLogs((l) => l.msg === "JetStream is not ready (its cluster is forming or electing): waiting", 1, 30_000);
      let r = await readyz(node.httpPort);
      expect(r).toEqual({ status: 503, reasons: ["jetstream: forming"] });
      expect((await fetch(`http://127.0.0.1:${node.httpPort}/healthz`)).status, "alive: not to be restarted").toBe(200);
      const refused = await fetch(`http://127.0.0.1:${node.httpPort}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ chat: "c", text: "x" }),
      });
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBeTruthy();

      // two of three: a meta leader, but not the three peers an R3 stream is placed on ("no suitable peers")
      servers.push(await startNatsServer(plan[1]!));
      await node.waitForLogs((l) => l.err_code === 10005, 1, 60_000);
      expect(node.child.exitCode, "still running").toBeNull();
      expect((await readyz(node.httpPort)).reasons).toEqual(["jetstream: forming"]);

      servers.push(await startNatsServer(plan[2]!));
      await node.waitForLogs((l) => l.msg === "claw node started", 1, 120_000);
      const deadline = Date.now() + 30_000;
      while ((r = await readyz(node.httpPort)).status !== 200 && Date.now() < deadline) await sleep(200);
      expect(r.status).toBe(200);

      const nc = await connect({ servers: plan.map((s) => s.url) });
      const out = await collectReplies(nc);
      nc.publish("claw.in.t.a.formed", jsonBody({ id: "formed-1", text: "after forming", sender: { id: "u" } }));
      expect((await out.waitFor("formed-1", 30_000)).text).toBe("after forming");
      out.stop();
      await nc.close();
      expect(node.child.exitCode).toBeNull();
    } finally {
      await node?.kill("SIGKILL");
      await Promise.all(servers.map((s) => s.stop()));
    }
  }, 240_000);
});
