/**
 * The `skills` scenario: invocation latency through Claw (publish to
 * `claw.skill.<id>.invoke`, a worker's invocation actor, the result back on
 * core NATS) for `time.now` (in process) and `bash` `echo hi` (bubblewrap,
 * a Node harness, a bash), one at a time. Beside them, in the same run, the
 * sandbox alone: bubblewrap starting `/bin/true`, and Node starting in it —
 * what a sandboxed skill costs before Claw does anything. Where podman can
 * serve its Docker API here, a `container` skill too (a busybox image's
 * shell script), beside the docker driver alone (create, start, wait,
 * remove, without the bus).
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { connectBus } from "../src/bus/index.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBubblewrapDriver, createDockerDriver, invokeSkill, parseSkillDescriptor, type SkillDescriptor } from "../src/skills/index.js";
import { startPodman } from "../test/support/podman.js";
import { startClawTarget } from "./targets.js";
import { latencyRecorder } from "./closed-loop.js";

const IMAGE = "localhost/claw-bench-skill:1";
const CONTAINER_SKILL = `#!/bin/sh\nprintf '{"ok":true}\\n'\n`;

/** One measured series. */
export interface SkillsRow {
  what: string;
  n: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
}

async function series(what: string, n: number, once: () => Promise<boolean>): Promise<SkillsRow> {
  const latencies = latencyRecorder();
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    if (!(await once())) errors++;
    latencies.record(performance.now() - t0);
  }
  return { what, n, ...latencies.summary(), errors };
}

/** A bwrap run like the driver's, without Claw: the sandbox's own start-up cost. */
function bwrapDirect(argv: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const c = spawn(
      "bwrap",
      [
        "--unshare-all",
        "--die-with-parent",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--symlink",
        "usr/bin",
        "/bin",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--",
        ...argv,
      ],
      { env: {}, stdio: "ignore" },
    );
    c.on("exit", (code) => resolve(code === 0));
    c.on("error", () => resolve(false));
  });
}

/** Runs the scenario, `n` invocations per series. */
export async function runSkills(n: number): Promise<SkillsRow[]> {
  const check = await createBubblewrapDriver().check();
  if (!check.ok) throw new Error(`bubblewrap cannot run here: ${check.reason}`);
  const engine = await startPodman();
  if (!engine.ok) process.stderr.write(`skills: no container series (${engine.reason})\n`);
  else await engine.podman.importBusyboxImage(IMAGE, { "/bin/skill": CONTAINER_SKILL }, ["/bin/skill"]);
  const target = await startClawTarget(1, engine.ok ? { CLAW_DOCKER_HOST: engine.podman.host } : {});
  const bus = await connectBus({ servers: [target.nats.url], name: "bench-skills" });
  try {
    const bash = parseSkillDescriptor(JSON.parse(await readFile(new URL("../skills/bash/skill.json", import.meta.url), "utf8")));
    const now = parseSkillDescriptor({ id: "time.now", version: "1.0.0", description: "d", runtime: "builtin", input: { type: "object" } });
    const container = parseSkillDescriptor({ id: "bench.container", version: "1.0.0", description: "d", runtime: "container", image: IMAGE, idempotent: true });
    const skills: Record<string, SkillDescriptor> = { bash, "time.now": now, "bench.container": container };
    const resolve = (id: string) => skills[id];
    const invoke = (skill: string, input: unknown) => async () => (await invokeSkill(bus, resolve, { skill, input, timeoutMs: 30_000 })).kind === "ok";
    // warm up: the first bash call copies the skill's files into the node's cache
    await invoke("bash", { command: "true" })();
    const rows = [
      await series("sandbox alone: bwrap /bin/true", n, () => bwrapDirect(["/bin/true"])),
      await series("sandbox alone: bwrap node -e 0", n, () => bwrapDirect([process.execPath, "-e", "0"])),
      await series("claw: time.now (in process)", n, invoke("time.now", {})),
      await series("claw: bash `echo hi` (bubblewrap)", n, invoke("bash", { command: "echo hi" })),
    ];
    if (engine.ok) {
      // registered where the node's registry sees it, as a user would
      const res = await fetch(`${target.httpUrl}/v1/skills`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(container),
      });
      if (!res.ok) throw new Error(`registering the container skill: ${res.status} ${await res.text()}`);
      const m = Math.min(n, 50); // a container's lifecycle is hundreds of ms
      const driver = createDockerDriver({ host: engine.podman.host });
      const workspace = await mkdtemp(join(tmpdir(), "bench-container-"));
      const spec = { command: [], image: IMAGE, stdin: "{}", env: {}, workspace, mounts: [], network: "none" as const, limits: container.limits };
      rows.push(await series("container alone: docker driver on podman", m, async () => (await driver.run(spec)).exitCode === 0));
      await invoke("bench.container", {})();
      rows.push(await series("claw: container skill (podman)", m, invoke("bench.container", {})));
      await rm(workspace, { recursive: true, force: true });
    }
    return rows;
  } finally {
    await bus.close();
    await target.stop();
    if (engine.ok) await engine.podman.stop();
  }
}
