import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { driverFor, openSandboxes, RUNTIMES, runsOn, runtimeSandbox } from "../../src/skills/index.js";

describe("the sandboxes of skill runtimes", () => {
  it("has a sandbox for every runtime but builtin", () => {
    for (const runtime of RUNTIMES) expect(runtimeSandbox(runtime) === undefined, runtime).toBe(runtime === "builtin");
  });

  it("says which members can run a runtime by the drivers their heartbeats name", () => {
    expect(runsOn("container", ["builtin", "bubblewrap"])).toBe(false);
    expect(runsOn("container", ["builtin", "docker"])).toBe(true);
    expect(runsOn("node", ["builtin", "docker"])).toBe(false);
    expect(runsOn("node", ["builtin", "process"])).toBe(true);
    expect(runsOn("process", ["builtin", "bubblewrap"])).toBe(true);
    expect(runsOn("builtin", ["builtin"])).toBe(true);
    // a member from before heartbeats named their drivers may run anything
    expect(runsOn("container", undefined)).toBe(true);
  });

  it("starts each runtime's skills in its sandbox: node under the harness, process from the skill's folder, a container as its image says", () => {
    const node = runtimeSandbox("node")!;
    expect(node.files).toBe(true);
    expect(node.command(["main.js", "--fast"])).toEqual([process.execPath, "/claw/node-runner.mjs", "/skill/main.js", "--fast"]);
    expect(node.mounts("/srv/runner")).toContainEqual({ host: "/srv/runner", at: "/claw" });
    const proc = runtimeSandbox("process")!;
    expect(proc.command(["run.sh", "./data.txt", "/usr/bin/env"])).toEqual(["/skill/run.sh", "/skill/data.txt", "/usr/bin/env"]);
    expect(proc.command(["/usr/bin/python3", "x.py"])).toEqual(["/usr/bin/python3", "x.py"]);
    const container = runtimeSandbox("container")!;
    expect(container.files).toBe(false);
    expect(container.command([])).toEqual([]);
    expect(container.mounts("/srv/runner")).toEqual([]);
  });

  it("makes each sandbox once for all its runtimes, and says at start what it found", async () => {
    const dir = await mkdtemp(join(tmpdir(), "claw-sandboxes-"));
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    try {
      const missing = `unix://${join(dir, "no-engine.sock")}`;
      const { drivers, names } = await openSandboxes({ unsandboxed: true, dockerHost: missing, sandboxDir: dir, warn: () => {} }, log);
      // node and process skills share the one driver; container skills have none here, and the caller is told how to get one
      expect(driverFor(drivers, "node")).toBe(driverFor(drivers, "process"));
      expect(driverFor(drivers, "node")).toMatchObject({ name: "process" });
      expect(driverFor(drivers, "container")).toEqual({
        unavailable: expect.stringMatching(/^container skills cannot run on this node: no container engine answers at .*CLAW_DOCKER_HOST/),
      });
      expect(driverFor(drivers, "builtin")).toBeUndefined();
      expect(names).toEqual(["builtin", "process"]);
      // running without a sandbox is said loudly; the missing engine with the setting that chose it
      expect(lines.find((l) => l.sandbox === "process")).toMatchObject({
        level: 40,
        msg: expect.stringContaining("WITHOUT a sandbox"),
        runtimes: ["node", "process"],
      });
      expect(lines.find((l) => l.sandbox === "docker")).toMatchObject({ level: 40, dockerHost: missing, runtimes: ["container"] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
