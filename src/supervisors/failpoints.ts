/**
 * Crash-test fault injection (`CLAW_FAILPOINTS`): the node SIGKILLs itself at
 * the named points, as a crash there would.
 */
import type { Logger } from "../log.js";

/** A failpoint hook that kills this process at the named points, or undefined when none is armed. */
export function failpointsFrom(names: string[], log: Logger): ((name: string) => void) | undefined {
  if (names.length === 0) return undefined;
  log.warn({ failpoints: names }, "failpoints armed: this node will SIGKILL itself when it reaches them");
  return (name) => {
    if (!names.includes(name)) return;
    // stderr is written synchronously; the logger's buffer would die with the process
    process.stderr.write(`claw: failpoint ${name} reached: killing this node\n`);
    process.kill(process.pid, "SIGKILL");
  };
}
