/**
 * `claw backup <dir>` and `claw restore <dir>`: Claw's streams, KV buckets
 * and object store to a folder and back (src/bus/backup.ts), with progress
 * on stderr.
 */
import { backup, isJetStreamForming, restore, type Progress, type RetryOptions } from "../bus/index.js";
import { cliBus } from "./cli-connection.js";

/** One line per stream, rewritten as it goes when stderr is a terminal. */
function progress(verb: string): Progress {
  let last = "";
  const tty = process.stderr.isTTY;
  return (stream: string, done: number, total: number) => {
    const line = `${verb} ${stream}: ${done}/${total}`;
    if (tty) process.stderr.write(`\r${line.padEnd(last.length)}`);
    else if (done === total) process.stderr.write(`${line}\n`);
    if (tty && done === total) process.stderr.write("\n");
    last = line;
  };
}

/**
 * A restore run as NATS starts (the cluster forming, a leader being elected)
 * waits for JetStream as long as it takes, saying so on stderr every time it
 * tries again; Ctrl-C ends the wait.
 */
function untilFormed(): RetryOptions {
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  return {
    totalMs: Infinity,
    policy: { baseMs: 250, factor: 2, maxMs: 5_000 },
    signal: stop.signal,
    transient: isJetStreamForming,
    onRetry: (e, _attempt, delayMs) =>
      process.stderr.write(
        `JetStream is not ready (${(e as Error)?.message ?? String(e)}): the cluster is forming or electing; trying again in ` +
          `${Math.round(delayMs / 100) / 10} s\n`,
      ),
  };
}

/** Runs `backup` or `restore`. Returns the exit code. */
export async function backupCommand(o: { action: "backup" | "restore"; dir: string; force: boolean }): Promise<number> {
  const bus = await cliBus();
  try {
    if (o.action === "backup") {
      const r = await backup(bus.jsm, o.dir, { server: bus.serverVersion, progress: progress("backing up") });
      const n = Object.values(r.streams).reduce((a, b) => a + b, 0);
      process.stdout.write(`backed up ${n} messages of ${Object.keys(r.streams).length} streams to ${o.dir}\n`);
      return 0;
    }
    const r = await restore(bus.jsm, bus.js, o.dir, { force: o.force, progress: progress("restoring"), retry: untilFormed() });
    const n = Object.values(r.streams).reduce((a, b) => a + b, 0);
    process.stdout.write(`restored ${n} messages of ${Object.keys(r.streams).length} streams from ${o.dir}; start the nodes\n`);
    return 0;
  } finally {
    await bus.close();
  }
}
