/**
 * Skill workspaces (`/work` in the sandbox), in the sandbox dir's
 * `workspaces/` folder: a fresh one per invocation (`i-*`, removed after
 * the run), or one per calling session (`s-<sha256 of the session>`) that
 * outlives its calls. Bounded twice over (red-team finding F11):
 *
 * - **a quota per workspace** (`CLAW_WORKSPACE_QUOTA_MB`), measured and
 *   enforced: a run may grow no file past what is left of it (the drivers'
 *   file-size rlimit — the kernel refuses the write), is measured while it
 *   runs and stopped once it fills the workspace to the quota, and fails
 *   `quota` when it ends having filled it (a run that found its session's
 *   workspace full gets no room, and may delete);
 * - **a lifetime** (`CLAW_WORKSPACE_TTL`): a session's workspace is removed
 *   once the session has been passivated that long — neither used by a
 *   skill nor written by a turn (its snapshot in `claw_sessions`) for the
 *   node's idle time plus the TTL. Invocation workspaces a dead node left
 *   behind go after two hours (no run lasts longer than one).
 *
 * Everything here is walked with `lstat` (a sandbox may plant links in its
 * workspace: none is followed), and bounded in entries.
 */
import { createHash } from "node:crypto";
import { lchown, lstat, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { SANDBOX_UID } from "./sandbox/bubblewrap.js";
import { writeFileSafely } from "./sandbox/sandbox-dir.js";

/** A workspace as a run gets it. */
export interface Workspace {
  /** the host folder mounted at `/work` */
  path: string;
  /** the calling session's (kept), or the invocation's (removed after) */
  session: string | undefined;
}

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
  /** stops watching and measures (once: later calls get the same answer): `full` when the run filled the workspace to its quota (one that found it full and left it no fuller is not) */
  end(): Promise<{ full: boolean; usage: WorkspaceUsage }>;
}

/** Options of {@link createWorkspaces}. */
export interface WorkspacesOptions {
  /** the sandbox dir's `workspaces/` folder (the node's own: sandbox-dir.ts) */
  dir: string;
  /** bytes one workspace may hold */
  quotaBytes: number;
  /** how long a session's workspace outlives the session's passivation; 0: kept for good */
  ttlMs: number;
  /** the node's idle time: a session is passivated this long after its last turn */
  idleMs: number;
  /** when the session (`<agent>.<session>`, as in `claw_sessions`) last had a turn (ms since epoch), undefined when it has none */
  lastTurn(session: string): Promise<number | undefined>;
  /** told of each workspace removed for its age */
  onRemoved?(e: { path: string; session: string | undefined }): void;
  /** ms between two measures of a running workspace (default 250; slower when measuring is slow) */
  watchIntervalMs?: number;
}

/** The workspaces of a node. */
export interface Workspaces {
  readonly quotaBytes: number;
  open(session: string | undefined): Promise<Workspace>;
  /** watches a run in `ws` against the quota */
  watch(ws: Workspace): Promise<QuotaWatch>;
  /** the run is over: an invocation's workspace is removed, a session's marked used */
  release(ws: Workspace): Promise<void>;
  /** removes the session workspaces past their lifetime (and invocation ones left behind); returns how many */
  sweep(now?: number): Promise<number>;
  /** stops the periodic sweep */
  stop(): void;
}

/** Entries a measure counts before it calls a workspace full: what a skill may fill with empty files. */
export const MAX_WORKSPACE_ENTRIES = 50_000;
/** An invocation's workspace older than this was left by a node that died mid-run (runs last at most an hour). */
const ORPHAN_MS = 2 * 3_600_000;

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
const sessionDir = (session: string) => `s-${createHash("sha256").update(session).digest("hex").slice(0, 32)}`;

/** Creates the workspaces of a node, and starts sweeping them (when they have a lifetime). */
export function createWorkspaces(o: WorkspacesOptions): Workspaces {
  const inUse = new Map<string, number>();
  const asRoot = process.getuid?.() === 0;
  const use = (p: string, by: number) => {
    const n = (inUse.get(p) ?? 0) + by;
    if (n > 0) inUse.set(p, n);
    else inUse.delete(p);
  };
  /** The session's record beside its workspace (the node's, out of the sandbox's reach): whose it is, when last used. */
  const touch = (ws: Workspace) => writeFileSafely(`${ws.path}.json`, Buffer.from(JSON.stringify({ session: ws.session, lastUsed: Date.now() })), 0o600);

  async function removeIfExpired(name: string, now: number): Promise<boolean> {
    const path = join(o.dir, name);
    if (inUse.has(path)) return false;
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isDirectory()) return false;
    let session: string | undefined;
    if (name.startsWith("i-")) {
      if (now - st.mtimeMs < ORPHAN_MS) return false;
    } else {
      const record = await readFile(`${path}.json`, "utf8").then((t) => JSON.parse(t) as { session?: string; lastUsed?: number }, () => undefined);
      session = typeof record?.session === "string" ? record.session : undefined;
      const lastUsed = typeof record?.lastUsed === "number" ? record.lastUsed : st.mtimeMs;
      const life = o.idleMs + o.ttlMs;
      if (o.ttlMs === 0 || now - lastUsed < life) return false;
      // its session may have gone on without skills: it is passivated only `idleMs` after its last turn
      const turn = session === undefined ? undefined : await o.lastTurn(session);
      if (turn !== undefined && now - turn < life) return false;
    }
    await rm(path, { recursive: true, force: true });
    await rm(`${path}.json`, { force: true });
    o.onRemoved?.({ path, session });
    return true;
  }

  let sweeping: Promise<number> | undefined;
  /** One sweep at a time: removes what is past its lifetime. */
  function sweep(now = Date.now()): Promise<number> {
    sweeping ??= (async () => {
      try {
        let n = 0;
        for (const name of await readdir(o.dir).catch(() => [] as string[])) {
          if (!/^[is]-[A-Za-z0-9]+$/.test(name)) continue;
          if (await removeIfExpired(name, now).catch(() => false)) n++;
        }
        return n;
      } finally {
        sweeping = undefined;
      }
    })();
    return sweeping;
  }
  // a session's workspace is looked at a few times per lifetime; without one, only what dead nodes left is swept
  const every = o.ttlMs > 0 ? Math.min(600_000, Math.max(500, Math.floor((o.idleMs + o.ttlMs) / 4))) : 600_000;
  const sweeper = setInterval(() => void sweep(), every);
  sweeper.unref();

  const workspaces: Workspaces = {
    quotaBytes: o.quotaBytes,
    async open(session) {
      if (session === undefined) {
        const path = await mkdtemp(join(o.dir, "i-"));
        if (asRoot) await lchown(path, SANDBOX_UID, SANDBOX_UID);
        use(path, 1);
        return { path, session };
      }
      const ws = { path: join(o.dir, sessionDir(session)), session };
      use(ws.path, 1);
      try {
        await mkdir(ws.path, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== "EEXIST") throw e;
        });
        // the one there must be a folder, not a link to follow: the workspaces folder is the node's alone, but never trusted blindly
        if (!(await lstat(ws.path)).isDirectory()) throw new Error(`the workspace ${ws.path} is not a directory`);
        if (asRoot) await lchown(ws.path, SANDBOX_UID, SANDBOX_UID);
        await touch(ws);
        return ws;
      } catch (e) {
        use(ws.path, -1);
        throw e;
      }
    },
    async watch(ws) {
      const before = await measureWorkspace(ws.path);
      const allowance = isFull(before, o.quotaBytes) ? 0 : o.quotaBytes - before.bytes;
      // reached by this run: full, and fuller than it found it (a run in a workspace already full may delete)
      const reached = (u: WorkspaceUsage) => isFull(u, o.quotaBytes) && (u.bytes > before.bytes || u.entries > before.entries || (before.complete && !u.complete));
      const over = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      let stopped = false;
      // measured again and again while it runs, never two at once, less often when measuring is slow
      const tick = async () => {
        const t = performance.now();
        const u = await measureWorkspace(ws.path);
        if (stopped) return;
        if (reached(u)) over.abort();
        else timer = setTimeout(() => void tick(), Math.max(o.watchIntervalMs ?? 250, 4 * (performance.now() - t)));
      };
      timer = setTimeout(() => void tick(), o.watchIntervalMs ?? 250);
      let ended: Promise<{ full: boolean; usage: WorkspaceUsage }> | undefined;
      return {
        allowance,
        signal: over.signal,
        end() {
          stopped = true;
          clearTimeout(timer);
          ended ??= measureWorkspace(ws.path).then((usage) => ({ full: over.signal.aborted || reached(usage), usage }));
          return ended;
        },
      };
    },
    async release(ws) {
      use(ws.path, -1);
      if (ws.session === undefined) await rm(ws.path, { recursive: true, force: true });
      else await touch(ws).catch(() => undefined);
    },
    sweep,
    stop() {
      clearInterval(sweeper);
    },
  };
  return workspaces;
}
