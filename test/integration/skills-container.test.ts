/**
 * `container` skills on a real node, run by the docker driver on podman's
 * Docker API service: registered through `POST /v1/skills`, invoked through
 * `POST /v1/skills/{id}/invoke`; the container's confinement (uid 65534,
 * read-only root, no network) and its limits (memory, time, output, its
 * workspace's quota) hold and
 * are reported, no container is left behind (not even by a node that died
 * mid-run) — and a node without an engine still starts, and says how to get
 * one.
 */
import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerDriver, dockerEndpoint } from "../../src/skills/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { skipWithout } from "../support/ci.js";
import { startPodman } from "../support/podman.js";

const IMAGE = "localhost/claw-skill-test:1";
/** The image's own command: its input back, and who it ran as. */
const SKILL = `#!/bin/sh
printf '{"input":%s,"uid":%s}\\n' "$CLAW_INPUT" "$(id -u)"
`;
const LIMITS = { timeoutMs: 5_000, memoryMb: 64, cpuSeconds: 10, processes: 32, outputBytes: 4_096 };

const engine = await startPodman();
const noEngine = skipWithout("skills-container: the tests that need a container engine", engine.ok ? undefined : engine.reason);
/** the engine, in the tests that only run with one */
const podman = () => (engine.ok ? engine.podman : expect.unreachable("no engine"));
afterAll(async () => {
  if (engine.ok) await engine.podman.stop();
});

/** A node on its own nats-server, and its HTTP API. */
function useNode(name: string, env: () => Record<string, string>) {
  const n = {} as { nats: NatsServerProcess; claw: ClawProcess };
  const sandboxDir = join(tmpdir(), `claw-sandbox-${name}-${process.pid}`);
  beforeAll(async () => {
    n.nats = await natsServer();
    n.claw = await startClaw({ env: { NATS_URL: n.nats.url, CLAW_SANDBOX_DIR: sandboxDir, ...env() } });
  });
  afterAll(async () => {
    await n.claw?.[Symbol.asyncDispose]();
    await n.nats?.stop();
    await rm(sandboxDir, { recursive: true, force: true });
  });
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(`http://127.0.0.1:${n.claw.httpPort}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  /** Registers a container skill of the test image; `command` replaces the image's own. */
  const register = async (id: string, command?: string[], extra: Record<string, unknown> = {}) => {
    const r = await api("POST", "/v1/skills", {
      id,
      version: "1.0.0",
      description: `test skill ${id}`,
      runtime: "container",
      image: IMAGE,
      ...(command ? { entrypoint: command } : {}),
      limits: LIMITS,
      ...extra,
    });
    expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
  };
  const invoke = (id: string, input: unknown = {}) => api("POST", `/v1/skills/${id}/invoke`, { input, timeout_ms: 20_000 });
  return { n, register, invoke };
}

describe.skipIf(noEngine)("container skills on podman", () => {
  const { n, register, invoke } = useNode("container", () => ({ CLAW_DOCKER_HOST: podman().host, CLAW_WORKSPACE_QUOTA_MB: "8" }));
  let listener: Server;
  let connections = 0;

  beforeAll(async () => {
    await podman().importBusyboxImage(IMAGE, { "/bin/skill": SKILL }, ["/bin/skill"]);
    listener = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
  });
  afterAll(() => listener?.close());

  it("runs the image's own command as uid 65534 with its input in CLAW_INPUT (up to 128 KiB), and says so at start", async () => {
    expect(n.claw.logs.find((l) => l.sandbox === "docker")?.detail).toMatch(/^Podman Engine .* \(API 1\.41\)/);
    await register("c.echo", undefined, { limits: { ...LIMITS, outputBytes: 256 * 1024 } });
    const r = await invoke("c.echo", { n: 42, s: 'it\'s "quoted"' });
    expect(r).toMatchObject({ status: 200, body: { skill: "c.echo@1.0.0", output: { input: { n: 42, s: 'it\'s "quoted"' }, uid: 65534 } } });
    // an environment variable holds 128 KiB: up to that it arrives whole, past it the input is refused
    const within = await invoke("c.echo", { s: "x".repeat(100_000) });
    expect(within.status, JSON.stringify(within.body).slice(0, 600)).toBe(200);
    expect(within.body.output.input.s).toHaveLength(100_000);
    expect((await invoke("c.echo", { s: "x".repeat(200_000) })).body.error).toMatchObject({
      code: "invalid_input",
      message: expect.stringContaining("CLAW_INPUT"),
    });
  });

  it("confines it: the root file system is read-only, /tmp and /work are writable, and there is no network", async () => {
    await register("c.write-root", ["sh", "-c", "touch /pwned"]);
    expect((await invoke("c.write-root")).body.error).toMatchObject({ code: "exit", message: expect.stringContaining("Read-only file system") });
    await register("c.write-scratch", ["sh", "-c", "echo a > /tmp/a && echo b > /work/b && echo '\"written\"'"]);
    expect((await invoke("c.write-scratch")).body).toMatchObject({ output: "written" });
    const port = (listener.address() as { port: number }).port;
    await register("c.net", ["sh", "-c", `echo hello | nc -w 2 127.0.0.1 ${port}`]);
    expect((await invoke("c.net")).body.error).toMatchObject({ code: "exit", message: expect.stringMatching(/can't connect|unreachable/) });
    expect(connections, "nothing reached the host's listener").toBe(0);
  });

  it("stops it past its memory, its time and its output, saying which, and signals it past its CPU time", async () => {
    await register("c.memory", ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' x); echo ${#x}"], { limits: { ...LIMITS, memoryMb: 32 } });
    expect((await invoke("c.memory")).body.error).toMatchObject({ code: "memory", message: expect.stringContaining("32 MB") });
    await register("c.slow", ["sleep", "30"], { limits: { ...LIMITS, timeoutMs: 1_500 } });
    const slow = await invoke("c.slow");
    expect(slow).toMatchObject({ status: 422, body: { error: { code: "timeout" } } });
    expect(slow.body.durationMs).toBeLessThan(5_000);
    // SIGXCPU at the soft limit (128 + 24): under the engine's init, not ignored as PID 1 would
    await register("c.spin", ["sh", "-c", "while :; do :; done"], { limits: { ...LIMITS, cpuSeconds: 1 } });
    expect((await invoke("c.spin")).body.error).toMatchObject({ code: "exit", message: expect.stringContaining("exited with 152") });
    await register("c.loud", ["sh", "-c", "head -c 10000000 /dev/zero | tr '\\0' x"]);
    expect(await invoke("c.loud")).toMatchObject({
      status: 422,
      body: { error: { code: "output_invalid", message: expect.stringContaining("printed more than 4096 bytes") } },
    });
  });

  it("stops it at its workspace's quota: no file grows past it", async () => {
    await register("c.fill", ["sh", "-c", "head -c 50000000 /dev/zero > /work/big; echo $?"]);
    expect((await invoke("c.fill")).body.error).toMatchObject({ code: "quota", message: expect.stringContaining("quota of 8 MB") });
  });

  it("leaves no container behind, and removes the overdue ones of a node that died mid-run", async () => {
    const docker = new Docker(dockerEndpoint(podman().host)!);
    expect(await docker.listContainers({ all: true })).toEqual([]);
    // as the driver labels a run's container: one whose node died two minutes past its deadline, and one still in time
    const run = (deadline: number) =>
      docker.createContainer({ Image: IMAGE, Cmd: ["sleep", "600"], Labels: { "claw.run": "1", "claw.deadline": String(deadline) } });
    await (await run(Date.now() - 120_000)).start();
    const young = await run(Date.now() + 60_000);
    const check = await createDockerDriver({ host: podman().host }).check();
    expect(check).toMatchObject({ ok: true, detail: expect.stringContaining("removed 1 overdue run container") });
    expect((await docker.listContainers({ all: true })).map((c) => c.Id)).toEqual([young.id]);
    await young.remove({ force: true });
  });
});

describe("container skills on a node without a container engine", () => {
  const missing = join(tmpdir(), `claw-no-engine-${process.pid}.sock`);
  const { n, register, invoke } = useNode("no-engine", () => ({ CLAW_DOCKER_HOST: `unix://${missing}` }));

  it("starts, and answers unavailable with how to get an engine", async () => {
    expect(n.claw.logs.find((l) => l.dockerHost === `unix://${missing}`)?.reason).toContain(missing);
    await register("c.nowhere");
    const r = await invoke("c.nowhere");
    expect(r).toMatchObject({ status: 422, body: { error: { code: "unavailable" } } });
    expect(r.body.error.message).toContain(`no container engine answers at unix://${missing}`);
    expect(r.body.error.message).toContain("podman system service");
    expect(r.body.error.message).toContain("CLAW_DOCKER_HOST");
  });
});
