/**
 * The Dockerfile, built and run as a user would (with podman, the engine
 * these machines have; its base is made from this machine's node, there
 * being no registry to pull one from): the image runs as a non-root user on a
 * read-only root filesystem with /tmp as its only writable place, its
 * HEALTHCHECK passes, it listens on every address — so credentials are
 * required, and a key made with `claw keys create` lets a request in — and
 * it answers a turn, over HTTP and over gRPC (its .proto shipped in the
 * image). Its size is printed.
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/bus/index.js";
import { runCli } from "../support/claw-cli.js";
import { clawClient } from "../support/grpc-client.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { skipWithout } from "../support/ci.js";
import { startPodman, type Podman } from "../support/podman.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const engine = await startPodman();

describe.skipIf(skipWithout("the container image", engine.ok ? undefined : engine.reason))("the container image", () => {
  let podman: Podman;
  let nats: NatsServerProcess;
  beforeAll(async () => {
    podman = (engine as { ok: true; podman: Podman }).podman;
    nats = await natsServer();
  }, 60_000);
  afterAll(async () => {
    await podman?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  it("builds, runs read-only as a non-root user, passes its health check, and answers with a key", async () => {
    await podman.importNodeBaseImage("localhost/claw-node-base:20");
    await podman.cli(
      ["build", "--format", "docker", "--network", "host", "--build-arg", "NODE_IMAGE=localhost/claw-node-base:20", "-t", "localhost/claw:test", ROOT],
      900_000,
    );
    const size = (await podman.cli(["image", "inspect", "localhost/claw:test", "--format", "{{.Size}}"])).trim();
    const baseSize = (await podman.cli(["image", "inspect", "localhost/claw-node-base:20", "--format", "{{.Size}}"])).trim();
    console.log(`claw image: ${Math.round(Number(size) / 1e6)} MB, of which the base ${Math.round(Number(baseSize) / 1e6)} MB`);
    expect(Number(size) - Number(baseSize)).toBeLessThan(250e6);

    const port = await freePort();
    const grpcPort = await freePort();
    await podman.cli([
      "run",
      "-d",
      "--name",
      "claw-test",
      "--network",
      "host",
      "--read-only",
      "--tmpfs",
      "/tmp",
      "-e",
      `NATS_URL=${nats.url}`,
      "-e",
      `CLAW_HTTP_PORT=${port}`,
      // the host's network: the image's default 50051 may be another test's
      "-e",
      `CLAW_GRPC_PORT=${grpcPort}`,
      "localhost/claw:test",
    ]);
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    while (
      (await fetch(`${base}/readyz`).then(
        (r) => r.status,
        () => 0,
      )) !== 200
    ) {
      if (Date.now() > deadline)
        throw new Error(`the container did not become ready:\n${await podman.cli(["logs", "claw-test"]).catch((e: Error) => e.message)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect((await podman.cli(["inspect", "claw-test", "--format", "{{.Config.User}}"])).trim()).toBe("1000:1000");
    await podman.cli(["healthcheck", "run", "claw-test"]);
    // listening on every address: nothing without a credential
    expect(
      (await fetch(`${base}/v1/agents/echo/invoke`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"text":"hi"}' })).status,
    ).toBe(401);
    const created = await runCli(["keys", "create", "--scopes", "agents:invoke", "--json"], { NATS_URL: nats.url });
    const key = (JSON.parse(created.stdout) as { key: string }).key;
    const res = await fetch(`${base}/v1/agents/echo/invoke`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: '{"text":"from the image"}',
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { reply: { text: string } }).reply.text).toBe("from the image");
    // gRPC beside it: the image ships the .proto the server loads, and the key works there too
    const g = clawClient(`127.0.0.1:${grpcPort}`);
    try {
      expect(await g.unary("Invoke", { agent: "echo", text: "over grpc" }, { bearer: key, deadlineMs: 20_000 })).toMatchObject({
        ok: true,
        value: { text: "over grpc" },
      });
    } finally {
      g.close();
    }
    expect(await podman.cli(["exec", "claw-test", "ls", "/app/proto/claw/v1/claw.proto"])).toContain("claw.proto");
    // stopped with SIGTERM, it leaves the cluster cleanly
    await podman.cli(["stop", "-t", "20", "claw-test"]);
    expect(await podman.cli(["logs", "claw-test"])).toContain('"msg":"stopped"');
  }, 1_200_000);
});
