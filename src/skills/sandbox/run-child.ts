/**
 * Running one sandboxed (or not) child process to its end: its stdin written,
 * stdout and stderr kept up to a bound, its whole process group killed at
 * the timeout, on too much output, or when the run is cancelled.
 */
import { spawn } from "node:child_process";
import { guardRun, type SandboxResult, type SandboxSpec } from "./sandbox.js";

/** How to run the child. */
export interface ChildRun {
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  spec: Pick<SandboxSpec, "stdin" | "limits" | "signal">;
  /** written to the child's fd 3, then closed (bubblewrap reads its seccomp program there) */
  fd3?: Uint8Array;
  /** also kills what escaped the process group (a control group's members) */
  killAll?: () => Promise<void>;
  /** after exit: a reason the sandbox knows it stopped the run (memory), and its clean-up */
  settle?: (stopped: SandboxResult["stopped"]) => Promise<SandboxResult["stopped"]>;
}

/** Runs it; never rejects (a spawn failure is an ended run with the reason in stderr). */
export function runChild(r: ChildRun): Promise<SandboxResult> {
  const started = performance.now();
  return new Promise<SandboxResult>((resolve) => {
    // its own process group, so a timeout kills everything it started
    const child = spawn(r.argv[0]!, r.argv.slice(1), {
      env: r.env,
      cwd: r.cwd,
      stdio: r.fd3 ? ["pipe", "pipe", "pipe", "pipe"] : ["pipe", "pipe", "pipe"],
      detached: true,
    });
    if (r.fd3) {
      const fd3 = child.stdio[3] as NodeJS.WritableStream & { on(e: "error", l: () => void): void };
      fd3.on("error", () => undefined); // a child that died at once never reads it
      fd3.end(r.fd3);
    }
    const guard = guardRun(r.spec, () => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
      void r.killAll?.();
    });
    child.stdout!.on("data", (b: Buffer) => guard.out.push(b));
    child.stderr!.on("data", (b: Buffer) => guard.err.push(b));
    child.stdin!.on("error", () => undefined); // it may exit before reading its input
    child.stdin!.end(r.spec.stdin);
    let done = false;
    const finish = async (exitCode: number | null, signal: string | null, error?: string) => {
      if (done) return;
      done = true;
      guard.dispose();
      const why = (await r.settle?.(guard.stopped())) ?? guard.stopped();
      const stderr = guard.err.text();
      resolve({
        exitCode,
        signal,
        stdout: guard.out.text(),
        stderr: error ? `${stderr}${error}` : stderr,
        stopped: why,
        durationMs: Math.round(performance.now() - started),
      });
    };
    child.on("error", (e) => void finish(null, null, e.message));
    child.on("close", (code, signal) => void finish(code, signal));
  });
}
