/**
 * The `skills` scenario: invocation latency through Claw (publish to
 * `claw.skill.<id>.invoke`, a worker's invocation actor, the result back on
 * core NATS) for `time.now` (in process) and `bash` `echo hi` (bubblewrap,
 * a Node harness, a bash), one at a time. Beside them, in the same run, the
 * sandbox alone: bubblewrap starting `/bin/true`, and Node starting in it —
 * what a sandboxed skill costs before Claw does anything.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import * as hdr from "hdr-histogram-js";
import { connectBus } from "../src/bus/index.js";
import { createBubblewrapDriver, invokeSkill, parseSkillDescriptor } from "../src/skills/index.js";
import { startClawTarget } from "./targets.js";

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
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    if (!(await once())) errors++;
    hist.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
  }
  const ms = (q: number) => Math.round(hist.getValueAtPercentile(q) / 10) / 100;
  return { what, n, p50Ms: ms(50), p99Ms: ms(99), maxMs: Math.round(hist.maxValue / 10) / 100, errors };
}

/** A bwrap run like the driver's, without Claw: the sandbox's own start-up cost. */
function bwrapDirect(argv: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const c = spawn("bwrap", ["--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev", "--", ...argv], { env: {}, stdio: "ignore" });
    c.on("exit", (code) => resolve(code === 0));
    c.on("error", () => resolve(false));
  });
}

/** Runs the scenario, `n` invocations per series. */
export async function runSkills(n: number): Promise<SkillsRow[]> {
  const check = await createBubblewrapDriver().check();
  if (!check.ok) throw new Error(`bubblewrap cannot run here: ${check.reason}`);
  const target = await startClawTarget(1);
  const bus = await connectBus({ servers: [target.nats.url], name: "bench-skills" });
  try {
    const bash = parseSkillDescriptor(JSON.parse(await readFile(new URL("../skills/bash/skill.json", import.meta.url), "utf8")));
    const now = parseSkillDescriptor({ id: "time.now", version: "1.0.0", description: "d", runtime: "builtin", input: { type: "object" } });
    const resolve = (id: string) => (id === "bash" ? bash : now);
    const invoke = (skill: string, input: unknown) => async () => (await invokeSkill(bus, resolve, { skill, input, timeoutMs: 30_000 })).kind === "ok";
    // warm up: the first bash call copies the skill's files into the node's cache
    await invoke("bash", { command: "true" })();
    const rows = [
      await series("sandbox alone: bwrap /bin/true", n, () => bwrapDirect(["/bin/true"])),
      await series("sandbox alone: bwrap node -e 0", n, () => bwrapDirect([process.execPath, "-e", "0"])),
      await series("claw: time.now (in process)", n, invoke("time.now", {})),
      await series("claw: bash `echo hi` (bubblewrap)", n, invoke("bash", { command: "echo hi" })),
    ];
    return rows;
  } finally {
    await bus.close();
    await target.stop();
  }
}
