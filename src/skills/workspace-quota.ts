/**
 * A workspace's quota (`CLAW_WORKSPACE_QUOTA_MB`, red-team finding F11),
 * measured and enforced: a run may grow no file past what is left of it (the
 * drivers' file-size rlimit — the kernel refuses the write), is measured while
 * it runs and stopped once it fills the workspace to the quota, and fails
 * `quota` when it ends having filled it (a run that found its session's
 * workspace full gets no room, and may delete).
 *
 * Everything is walked with `lstat` (a sandbox may plant links in its
 * workspace: none is followed), and bounded in entries.
 */
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

/** How full a workspace is. */
export interface WorkspaceUsage {
  bytes: number;
  entries: number;
  /** walked to the end (false: more entries than are ever counted, which counts as full) */
  complete: boolean;
}

/** How a run's use of its workspace ended. */
export interface QuotaWatch {
  /** bytes the run may add (what the file-size rlimit is set to) */
  allowance: number;
  /** aborted once the workspace reaches its quota while the run goes on */
  signal: AbortSignal;
  /**
   * stops watching and measures (once: later calls get the same answer): `full` when the run filled the workspace to its quota (one that found it full and left
   * it no fuller is not)
   */
  end(): Promise<{ full: boolean; usage: WorkspaceUsage }>;
}

/** Entries a measure counts before it calls a workspace full: what a skill may fill with empty files. */
export const MAX_WORKSPACE_ENTRIES = 50_000;

/** What `dir` holds: the bytes of its files (their allocated size, or their length if larger), folders and links, never following one. */
export async function measureWorkspace(dir: string, maxEntries = MAX_WORKSPACE_ENTRIES): Promise<WorkspaceUsage> {
  const u: WorkspaceUsage = { bytes: 0, entries: 0, complete: true };
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return; // removed (or replaced) while measured: what is left is counted
    }
    for (const name of names) {
      if (++u.entries > maxEntries) {
        u.complete = false;
        return;
      }
      const p = join(d, name);
      const st = await lstat(p).catch(() => undefined);
      if (!st) continue;
      u.bytes += st.isFile() ? Math.max(st.size, st.blocks * 512) : st.blocks * 512;
      // a link is counted, never followed (a folder swapped for one between the lstat and the readdir is a race the entry bound ends)
      if (st.isDirectory()) await walk(p);
      if (!u.complete) return;
    }
  };
  await walk(dir);
  return u;
}

const isFull = (u: WorkspaceUsage, quota: number) => !u.complete || u.bytes >= quota;

/**
 * Measures the workspace at `path` now, then starts measuring it again and
 * again (every `intervalMs`, less often when measuring is slow, never two at
 * once) until the watch ends or the run fills it to `quotaBytes`.
 */
export async function watchQuota(path: string, quotaBytes: number, intervalMs: number): Promise<QuotaWatch> {
  const before = await measureWorkspace(path);
  const allowance = isFull(before, quotaBytes) ? 0 : quotaBytes - before.bytes;
  // reached by this run: full, and fuller than it found it (a run in a workspace already full may delete)
  const reached = (u: WorkspaceUsage) => isFull(u, quotaBytes) && (u.bytes > before.bytes || u.entries > before.entries || (before.complete && !u.complete));
  const over = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = async () => {
    const t = performance.now();
    const u = await measureWorkspace(path);
    if (stopped) return;
    if (reached(u)) over.abort();
    else timer = setTimeout(() => void tick(), Math.max(intervalMs, 4 * (performance.now() - t)));
  };
  timer = setTimeout(() => void tick(), intervalMs);
  let ended: Promise<{ full: boolean; usage: WorkspaceUsage }> | undefined;
  return {
    allowance,
    signal: over.signal,
    end() {
      stopped = true;
      clearTimeout(timer);
      ended ??= measureWorkspace(path).then((usage) => ({ full: over.signal.aborted || reached(usage), usage }));
      return ended;
    },
  };
}
