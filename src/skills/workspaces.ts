/**
 * Skill workspaces (`/work` in the sandbox), in the sandbox dir's
 * `workspaces/` folder: a fresh one per invocation (`i-*`, removed after
 * the run), or one per calling session (`s-<sha256 of the session>`) that
 * outlives its calls. Bounded twice over (red-team finding F11): a quota per
 * workspace (workspace-quota.ts) and a lifetime (workspace-lifetime.ts).
 */
import { createHash } from "node:crypto";
import { lchown, lstat, mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { SANDBOX_UID } from "./sandbox/bubblewrap.js";
import { markUsed, workspaceSweep } from "./workspace-lifetime.js";
import { watchQuota, type QuotaWatch } from "./workspace-quota.js";

/** A workspace as a run gets it. */
export interface Workspace {
  /** the host folder mounted at `/work` */
  path: string;
  /** the calling session's (kept), or the invocation's (removed after) */
  session: string | undefined;
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

const sessionDir = (session: string) => `s-${createHash("sha256").update(session).digest("hex").slice(0, 32)}`;

/** Creates the workspaces of a node, and starts sweeping them (when they have a lifetime). */
export function createWorkspaces(o: WorkspacesOptions): Workspaces {
  /** runs using each workspace now */
  const inUse = new Map<string, number>();
  const use = (p: string, by: number) => {
    const n = (inUse.get(p) ?? 0) + by;
    if (n > 0) inUse.set(p, n);
    else inUse.delete(p);
  };
  const asRoot = process.getuid?.() === 0;

  const sweep = workspaceSweep({
    dir: o.dir,
    ttlMs: o.ttlMs,
    idleMs: o.idleMs,
    lastTurn: (s) => o.lastTurn(s),
    inUse: (path) => inUse.has(path),
    onRemoved: (e) => o.onRemoved?.(e),
  });
  // a session's workspace is looked at a few times per lifetime; without one, only what dead nodes left is swept
  const every = o.ttlMs > 0 ? Math.min(600_000, Math.max(500, Math.floor((o.idleMs + o.ttlMs) / 4))) : 600_000;
  const sweeper = setInterval(() => void sweep(), every);
  sweeper.unref();

  return {
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
        await markUsed(ws);
        return ws;
      } catch (e) {
        use(ws.path, -1);
        throw e;
      }
    },
    watch: (ws) => watchQuota(ws.path, o.quotaBytes, o.watchIntervalMs ?? 250),
    async release(ws) {
      use(ws.path, -1);
      if (ws.session === undefined) await rm(ws.path, { recursive: true, force: true });
      else await markUsed(ws).catch(() => undefined);
    },
    sweep,
    stop() {
      clearInterval(sweeper);
    },
  };
}
