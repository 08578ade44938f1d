/**
 * Runs the `claw` command line (dist/cli/claw.js) as a user would.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const CLAW = fileURLToPath(new URL("../../dist/cli/claw.js", import.meta.url));

/** Exit code and output of one `claw` run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `claw <args>`; resolves with its exit code and output, or kills it after
 * `ms`. `onStdout` sees the output so far and may interrupt (SIGINT) the command;
 * `onStderr` sees what it has said on stderr so far.
 */
export function runCli(
  args: string[],
  env: Record<string, string>,
  ms = 30_000,
  onStdout?: (text: string, interrupt: () => void) => void,
  onStderr?: (text: string) => void,
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLAW, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
      onStdout?.(stdout, () => child.kill("SIGINT"));
    });
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
      onStderr?.(stderr);
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
