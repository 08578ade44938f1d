/**
 * A workspace's lifetime (`CLAW_WORKSPACE_TTL`, red-team finding F11): a
 * session's workspace is removed once the session has been passivated that
 * long — neither used by a skill (the record beside the workspace says when
 * it last was) nor written by a turn (its snapshot in `claw_sessions`) for the
 * node's idle time plus the TTL. Invocation workspaces a dead node left
 * behind go after two hours (no run lasts longer than one).
 */
import { lstat, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileSafely } from "./sandbox/sandbox-dir.js";

/** An invocation's workspace older than this was left by a node that died mid-run (runs last at most an hour). */
const ORPHAN_MS = 2 * 3_600_000;

/** The session's record beside its workspace (the node's, out of the sandbox's reach): whose it is, and that it is used now. */
export function markUsed(ws: { path: string; session: string | undefined }): Promise<void> {
  return writeFileSafely(`${ws.path}.json`, Buffer.from(JSON.stringify({ session: ws.session, lastUsed: Date.now() })), 0o600);
}

/** Options of {@link workspaceSweep}. */
export interface WorkspaceSweepOptions {
  /** the workspaces folder */
  dir: string;
  /** how long a session's workspace outlives the session's passivation; 0: kept for good */
  ttlMs: number;
  /** the node's idle time: a session is passivated this long after its last turn */
  idleMs: number;
  /** when the session last had a turn (ms since epoch), undefined when it has none */
  lastTurn(session: string): Promise<number | undefined>;
  /** whether a run uses the workspace at `path` now (it is never removed then) */
  inUse(path: string): boolean;
  /** told of each workspace removed for its age */
  onRemoved?(e: { path: string; session: string | undefined }): void;
}

/**
 * The sweep of a workspaces folder: each call removes what is past its
 * lifetime and resolves with how many it removed; a call while one runs
 * joins it. Starts nothing by itself.
 */
export function workspaceSweep(o: WorkspaceSweepOptions): (now?: number) => Promise<number> {
  async function removeIfExpired(name: string, now: number): Promise<boolean> {
    const path = join(o.dir, name);
    if (o.inUse(path)) return false;
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isDirectory()) return false;
    let session: string | undefined;
    if (name.startsWith("i-")) {
      if (now - st.mtimeMs < ORPHAN_MS) return false;
    } else {
      const record = await readFile(`${path}.json`, "utf8").then(
        (t) => JSON.parse(t) as { session?: string; lastUsed?: number },
        () => undefined,
      );
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
  return (now = Date.now()) => {
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
  };
}
