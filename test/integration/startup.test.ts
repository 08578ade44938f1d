import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { createServer, connect as tcpConnect, type Socket } from "node:net";
import { connectBus, freePort, natsAnswers, STREAMS } from "../../src/bus/index.js";
import { runClawExpectingFailure, startClaw } from "../support/claw-node.js";
import { client, natsServer } from "../support/nats-server.js";
import { collectReplies, jsonBody } from "../support/replies.js";

describe("start-up", () => {
  it("starts an embedded nats-server when NATS_URL is unset and nothing answers, and stops it on exit", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "claw-data-"));
    const port = await freePort();
    try {
      const claw = await startClaw({ env: { CLAW_EMBEDDED_NATS_PORT: String(port), CLAW_DATA_DIR: dataDir } });
      expect(claw.output()).toContain("starting an embedded nats-server");
      expect((await stat(join(dataDir, "nats"))).isDirectory()).toBe(true);
      const nc = await connect({ servers: `nats://127.0.0.1:${port}` });
      const out = await collectReplies(nc);
      nc.publish("claw.in.cli.local.me", jsonBody({ id: "emb-1", text: "embedded", sender: { id: "me" } }));
      expect((await out.waitFor("emb-1", 2_000)).text).toBe("embedded");
      await nc.close();
      expect(await claw.kill("SIGTERM")).toBe(0);
      expect(await natsAnswers(`nats://127.0.0.1:${port}`)).toBe(false);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("explains how to install nats-server when the binary is missing", async () => {
    const port = await freePort();
    const r = await runClawExpectingFailure({ CLAW_EMBEDDED_NATS_PORT: String(port), CLAW_NATS_SERVER_BIN: "/nonexistent/nats-server" });
    expect(r.code).not.toBe(0);
    expect(r.output).toContain("apt-get install -y nats-server");
    expect(r.output).not.toMatch(/\n\s+at /); // no stack trace on stderr
  });

  it("reports an existing stream with a conflicting config and leaves it untouched", async () => {
    await using nats = await natsServer();
    await using c = await client(nats.url);
    await c.jsm.streams.add({ name: STREAMS.in, subjects: ["claw.in.*.*.*.*"], retention: RetentionPolicy.Limits, storage: StorageType.File });
    const r = await runClawExpectingFailure({ NATS_URL: nats.url });
    expect(r.code).toBe(1);
    expect(r.output).toContain("stream CLAW_IN exists with a conflicting configuration");
    expect(r.output).toContain("retention limits ≠ workqueue");
    expect((await c.jsm.streams.info(STREAMS.in)).config.retention).toBe(RetentionPolicy.Limits);
  });

  it("tries again when a server accepts the connection but does not answer in time", async () => {
    await using nats = await natsServer();
    // a front that swallows the first connection (a server too busy to answer) and passes later ones through
    let connections = 0;
    const held: Socket[] = [];
    const front = createServer((sock) => {
      if (++connections === 1) return void held.push(sock);
      const up = tcpConnect(nats.port, "127.0.0.1");
      sock.pipe(up).pipe(sock);
      sock.on("error", () => up.destroy());
      up.on("error", () => sock.destroy());
    });
    await new Promise<void>((r) => front.listen(0, "127.0.0.1", () => r()));
    const retries: number[] = [];
    try {
      const bus = await connectBus({
        servers: [`nats://127.0.0.1:${(front.address() as { port: number }).port}`],
        name: "retry-test",
        timeoutMs: 500,
        onRetry: (attempt) => retries.push(attempt),
      });
      expect(retries).toEqual([1]);
      expect((await bus.jsm.getAccountInfo()).limits).toBeDefined();
      await bus.close();
    } finally {
      for (const s of held) s.destroy();
      front.close();
      front.closeAllConnections?.();
    }
  });

  it("says clearly when the configured NATS is unreachable", async () => {
    const port = await freePort();
    const r = await runClawExpectingFailure({ NATS_URL: `nats://127.0.0.1:${port}` });
    expect(r.code).toBe(1);
    expect(r.output).toContain(`cannot connect to NATS at nats://127.0.0.1:${port}`);
  });

  it("rejects invalid configuration with the variable's name", async () => {
    const r = await runClawExpectingFailure({ NATS_URL: "nats://127.0.0.1:1", CLAW_PARTITIONS: "zero" });
    expect(r.code).toBe(2);
    expect(r.output).toContain("CLAW_PARTITIONS");
  });
});
