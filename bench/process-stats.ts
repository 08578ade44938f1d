/**
 * CPU seconds and RSS of processes (the Claw node(s), nats-server, the
 * baseline worker), read from /proc through pidusage.
 */
import pidusage from "pidusage";

/** CPU time and memory of one process at one moment. */
export interface ProcessSample {
  cpuMs: number;
  rssBytes: number;
}

/** Samples a process; undefined when it is gone. */
export async function sample(pid: number): Promise<ProcessSample | undefined> {
  try {
    const s = await pidusage(pid);
    return { cpuMs: s.ctime, rssBytes: s.memory };
  } catch {
    return undefined;
  }
}

/** CPU seconds used by `pid` between two samples. */
export function cpuSeconds(before: ProcessSample | undefined, after: ProcessSample | undefined): number {
  return before && after ? (after.cpuMs - before.cpuMs) / 1000 : 0;
}
