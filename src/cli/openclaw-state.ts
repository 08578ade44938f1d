/**
 * The conversations of an OpenClaw state directory (`~/.openclaw`), in
 * either of its layouts: 2026.9.x's SQLite database per agent
 * (`agents/<agent>/agent/openclaw-agent.sqlite`) or 2026.4.x's JSONL
 * transcripts with `sessions.json` (`agents/<agent>/sessions/`). An agent
 * with both (a 2026.9.x that migrated) is read from its database. `<dir>`
 * may also be one agent's folder, its `agent` or `sessions` folder, a
 * database, or one transcript.
 */
import { readdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { notASession, readJsonlSession, readJsonlStore } from "./openclaw-jsonl-store.js";
import { OPENCLAW_AGENT_DB, readSqliteStore } from "./openclaw-sqlite-store.js";
import type { LeftOut, OpenClawSession } from "./openclaw-session.js";

/** A path that is not OpenClaw's state (the CLI says so and exits 1). */
export class OpenClawStateError extends Error {
  readonly code: "not_found" | "not_a_session";
  constructor(code: "not_found" | "not_a_session", message: string) {
    super(message);
    this.name = "OpenClawStateError";
    this.code = code;
  }
}

const exists = (p: string) =>
  stat(p).then(
    (s) => s,
    () => undefined,
  );

/** The agent a path inside `agents/<agent>/…` belongs to. */
function agentOfPath(path: string): string | undefined {
  const parts = path.split("/");
  const i = parts.lastIndexOf("agents");
  return i >= 0 && parts[i + 1] ? parts[i + 1] : undefined;
}

/** One agent's folder (`agents/<agent>`): its database, else its transcripts. */
async function readAgent(dir: string, agent: string): Promise<{ sessions: OpenClawSession[]; leftOut: LeftOut[] }> {
  const db = join(dir, "agent", OPENCLAW_AGENT_DB);
  const sessionsDir = join(dir, "sessions");
  if (await exists(db)) {
    const r = await readSqliteStore(db, agent);
    // what the database superseded or lost is not read, but said
    for (const n of (await exists(sessionsDir)) ? await readdir(sessionsDir) : []) {
      const why = notASession(n);
      if (why && why !== "not a transcript") r.leftOut.push({ source: join(sessionsDir, n), why });
    }
    return r;
  }
  if (await exists(sessionsDir)) return readJsonlStore(sessionsDir, agent);
  return { sessions: [], leftOut: [] };
}

/** Finds and reads the conversations under `dir`. */
export async function readOpenClawState(dir: string): Promise<{ sessions: OpenClawSession[]; leftOut: LeftOut[] }> {
  const s = await exists(dir);
  if (!s) throw new OpenClawStateError("not_found", `${dir}: no such file or folder`);
  if (s.isFile()) {
    if (dir.endsWith(".sqlite")) return readSqliteStore(dir, agentOfPath(dir));
    const why = notASession(basename(dir));
    if (why) throw new OpenClawStateError("not_a_session", `${dir}: ${why}`);
    return { sessions: [await readJsonlSession(dir, agentOfPath(dir))], leftOut: [] };
  }
  if (await exists(join(dir, OPENCLAW_AGENT_DB))) return readSqliteStore(join(dir, OPENCLAW_AGENT_DB), agentOfPath(dir) ?? basename(dirname(dir)));
  if (basename(dir) === "sessions" || (await exists(join(dir, "sessions.json")))) return readJsonlStore(dir, agentOfPath(dir) ?? basename(dirname(dir)));
  if ((await exists(join(dir, "agent"))) || (await exists(join(dir, "sessions")))) return readAgent(dir, agentOfPath(dir) ?? basename(dir));
  if (await exists(join(dir, "agents"))) {
    const all = { sessions: [] as OpenClawSession[], leftOut: [] as LeftOut[] };
    for (const a of (await readdir(join(dir, "agents"), { withFileTypes: true })).filter((e) => e.isDirectory()).sort((x, y) => x.name.localeCompare(y.name))) {
      const r = await readAgent(join(dir, "agents", a.name), a.name);
      all.sessions.push(...r.sessions);
      all.leftOut.push(...r.leftOut);
    }
    return all;
  }
  // a folder of transcripts without an index
  const names = await readdir(dir);
  if (names.some((n) => !notASession(n))) return readJsonlStore(dir, agentOfPath(dir));
  return { sessions: [], leftOut: [] };
}
