/**
 * No sandbox: the command runs as a plain child process of the node, in the
 * workspace, with the given environment, killed at the timeout. Only when
 * `CLAW_ALLOW_UNSANDBOXED=1` — the node warns at start and on every run.
 * Paths inside a sandbox (`/work`, the read-only mounts) are mapped back to
 * the host paths they stand for.
 */
import { runChild } from "./run-child.js";
import type { SandboxDriver, SandboxSpec } from "./sandbox.js";

/** Creates the driver; `warn` is told on every run. */
export function createProcessDriver(warn: (message: string) => void): SandboxDriver {
  const toHost = (spec: SandboxSpec, arg: string): string => {
    if (arg === "/work" || arg.startsWith("/work/")) return spec.workspace + arg.slice("/work".length);
    const m = spec.mounts.find((x) => arg === x.at || arg.startsWith(`${x.at}/`));
    return m ? m.host + arg.slice(m.at.length) : arg;
  };
  return {
    name: "process",
    check: async () => ({
      ok: true,
      detail: "no isolation (CLAW_ALLOW_UNSANDBOXED=1)",
      warning: "CLAW_SANDBOX=process: skills run WITHOUT a sandbox, as the node's own user, with its files and network",
    }),
    run(spec) {
      warn(`running ${spec.command.map((a) => toHost(spec, a)).join(" ")} without a sandbox (CLAW_ALLOW_UNSANDBOXED=1)`);
      const argv = spec.command.map((a) => toHost(spec, a));
      return runChild({ argv, cwd: spec.workspace, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: spec.workspace, ...spec.env }, spec });
    },
  };
}
