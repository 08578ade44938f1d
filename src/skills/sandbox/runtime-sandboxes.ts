/**
 * The sandboxes of skill runtimes, keyed by runtime: the one place that says
 * which driver runs a runtime's skills on this node (by its configuration),
 * which drivers run it on any node (by the names heartbeats say), what a
 * caller is told when this node has none, and how a skill of the runtime
 * starts inside one. `builtin` skills run in process and have no line.
 * A new sandbox is a driver file and a line here.
 */
import { dirname } from "node:path";
import type { Logger } from "../../log.js";
import type { Runtime } from "../descriptor.js";
import { createBubblewrapDriver } from "./bubblewrap.js";
import { createDockerDriver } from "./docker.js";
import { createProcessDriver } from "./process-driver.js";
import type { NodeDrivers, SandboxDriver, Unavailable } from "./sandbox.js";

/** The runtimes that run in a sandbox. */
export type SandboxedRuntime = Exclude<Runtime, "builtin">;

/** What a node's configuration says of its sandboxes. */
export interface SandboxSetup {
  /** `CLAW_SANDBOX=process` (with `CLAW_ALLOW_UNSANDBOXED=1`): node and process skills run without a sandbox */
  unsandboxed: boolean;
  /** `CLAW_DOCKER_HOST` */
  dockerHost: string;
  /** `CLAW_SANDBOX_DIR`, as prepared */
  sandboxDir: string;
  /** told on every run without a sandbox */
  warn(message: string): void;
}

/** A sandbox a node may have: made and checked once, however many runtimes it runs. */
export interface SandboxKind {
  /** every driver that can be it, by the name a node's heartbeat says */
  drivers: ReadonlyArray<SandboxDriver["name"]>;
  /** the driver this node tries, by its configuration */
  create(setup: SandboxSetup): SandboxDriver;
  /** what a caller is told when this node has none: why, and how to get one */
  missing(reason: string): string;
  /** the settings logged with what the node found */
  settings(setup: SandboxSetup): Record<string, unknown>;
}

/** How a skill of one runtime starts in its sandbox. */
export interface RuntimeSandbox {
  sandbox: SandboxKind;
  /** the skill's files are mounted at `/skill` */
  files: boolean;
  /** the command run, from the skill's entrypoint */
  command(entry: readonly string[]): string[];
  /** what else is mounted read-only, from the folder holding the node's harness */
  mounts(runnerDir: string): Array<{ host: string; at: string }>;
}

/** `node` and `process` skills: bubblewrap, or — only when explicitly allowed — none. */
const CODE: SandboxKind = {
  drivers: ["bubblewrap", "process"],
  create: (s) => (s.unsandboxed ? createProcessDriver(s.warn) : createBubblewrapDriver({ sandboxDir: s.sandboxDir })),
  missing: (reason) => `no sandbox for node and process skills on this node: ${reason}`,
  settings: (s) => ({ sandboxDir: s.sandboxDir }),
};

/** `container` skills: an engine that speaks the Docker API. */
const CONTAINER: SandboxKind = {
  drivers: ["docker"],
  create: (s) => createDockerDriver({ host: s.dockerHost }),
  missing: (reason) =>
    `container skills cannot run on this node: ${reason}. Install a container engine (apt-get install -y podman runc, then podman system service ` +
    `--time=0 unix:///run/podman/podman.sock; or Docker) and set CLAW_DOCKER_HOST to its endpoint`,
  settings: (s) => ({ dockerHost: s.dockerHost }),
};

/** Every sandboxed runtime: its sandbox, and how its skills start there. */
export const RUNTIME_SANDBOXES: Readonly<Record<SandboxedRuntime, RuntimeSandbox>> = {
  node: {
    sandbox: CODE,
    files: true,
    command: (entry) => [process.execPath, "/claw/node-runner.mjs", `/skill/${entry[0]}`, ...entry.slice(1)],
    // the harness, and Node itself where it is not under /usr (which every sandbox has)
    mounts: (runnerDir) => [
      { host: runnerDir, at: "/claw" },
      ...(process.execPath.startsWith("/usr/") ? [] : [{ host: dirname(process.execPath), at: dirname(process.execPath) }]),
    ],
  },
  process: {
    sandbox: CODE,
    files: true,
    command: (entry) => entry.map((a, i) => (i === 0 && !a.startsWith("/") ? `/skill/${a}` : a.startsWith("./") ? `/skill/${a.slice(2)}` : a)),
    mounts: () => [],
  },
  // a container's command is the image's business (none: the image's own); it has no skill files mounted
  container: { sandbox: CONTAINER, files: false, command: (entry) => [...entry], mounts: () => [] },
};

const byRuntime: ReadonlyMap<string, RuntimeSandbox> = new Map(Object.entries(RUNTIME_SANDBOXES));

/** How a skill of `runtime` starts in its sandbox; undefined for `builtin`. */
export function runtimeSandbox(runtime: string): RuntimeSandbox | undefined {
  return byRuntime.get(runtime);
}

/** Whether a member whose heartbeat names `sandboxes` can run skills of `runtime` (a member from before heartbeats named them may). */
export function runsOn(runtime: string, sandboxes: readonly string[] | undefined): boolean {
  const r = runtimeSandbox(runtime);
  return !r || !sandboxes || r.sandbox.drivers.some((name) => sandboxes.includes(name));
}

/**
 * Makes and checks this node's sandboxes, each once, and says at start what
 * it found: the drivers by runtime (or why a runtime has none here), and the
 * names its heartbeat says.
 */
export async function openSandboxes(setup: SandboxSetup, log: Logger): Promise<{ drivers: NodeDrivers; names: string[] }> {
  const runtimesOf = new Map<SandboxKind, string[]>();
  for (const [runtime, r] of byRuntime) runtimesOf.set(r.sandbox, [...(runtimesOf.get(r.sandbox) ?? []), runtime]);
  const drivers = new Map<string, SandboxDriver | Unavailable>();
  const names = new Set(["builtin"]);
  for (const [kind, runtimes] of runtimesOf) {
    const driver = kind.create(setup);
    const check = await driver.check();
    const skills = `${runtimes.join(" and ")} skills`;
    const said = { runtimes, sandbox: driver.name, ...kind.settings(setup) };
    let found: SandboxDriver | Unavailable;
    if (check.ok) {
      found = driver;
      names.add(driver.name);
      if (check.warning) log.warn({ ...said, detail: check.detail }, check.warning);
      else log.info({ ...said, detail: check.detail }, `${skills} run in ${driver.name} sandboxes`);
    } else {
      found = { unavailable: kind.missing(check.reason) };
      log.warn({ ...said, reason: check.reason }, `${driver.name} is not available: ${skills} will not run on this node (built-in skills still do)`);
    }
    for (const runtime of runtimes) drivers.set(runtime, found);
  }
  return { drivers, names: [...names] };
}
