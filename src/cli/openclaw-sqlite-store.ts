/**
 * OpenClaw 2026.9.x's sessions: one SQLite database per agent,
 * `agents/<agent>/agent/openclaw-agent.sqlite`. `session_nodes` maps each
 * session key to its current session (`current_session_id`);
 * `session_windows` holds each session's channel account;
 * `transcript_events` holds its events in order (`seq`), each as JSON text
 * (`event_json`) or, when OpenClaw's runtime compressed it, as zstd
 * (`event_zstd`, `event_utf8_bytes`). Deleted sessions are gone from it (a
 * `sessions/<id>.jsonl.deleted.<ts>.<hash>.zst` archive is all that is left);
 * transcripts moved to OpenClaw's cold storage are said so and left out.
 *
 * Read with sql.js (SQLite compiled to WebAssembly: no native build, and
 * the SQLite ≥ 3.43 the schema's `octet_length` needs), from a copy in
 * memory with the write-ahead log applied — the file is never written.
 */
import { readFile } from "node:fs/promises";
import { decompress } from "fzstd";
import initSqlJs, { type Database, type SqlValue } from "sql.js";
import type { LeftOut, OpenClawSession } from "./openclaw-session.js";
import { withWal } from "./sqlite-wal.js";

/** The file name of an agent's database (in `agents/<agent>/agent/`). */
export const OPENCLAW_AGENT_DB = "openclaw-agent.sqlite";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Rows of a query as objects. */
function rows(db: Database, sql: string, params: SqlValue[] = []): Array<Record<string, SqlValue>> {
  const stmt = db.prepare(sql);
  try {
    stmt.bind(params);
    const out: Array<Record<string, SqlValue>> = [];
    while (stmt.step()) out.push(stmt.getAsObject());
    return out;
  } finally {
    stmt.free();
  }
}

const hasTable = (db: Database, name: string) => rows(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]).length > 0;

/** One event row as JSON (decompressing a zstd one). */
function eventOf(row: Record<string, SqlValue>): unknown {
  if (typeof row.event_json === "string") return JSON.parse(row.event_json);
  if (row.event_zstd instanceof Uint8Array) {
    const bytes = decompress(row.event_zstd);
    if (typeof row.event_utf8_bytes === "number" && bytes.length !== row.event_utf8_bytes)
      throw new Error(`decompressed to ${bytes.length} bytes, not the ${row.event_utf8_bytes} recorded`);
    return JSON.parse(utf8.decode(bytes));
  }
  throw new Error("neither event_json nor event_zstd");
}

/** The sessions of one agent's database. */
export async function readSqliteStore(file: string, agent: string | undefined): Promise<{ sessions: OpenClawSession[]; leftOut: LeftOut[] }> {
  const wal = await readFile(`${file}-wal`).catch(() => undefined);
  const SQL = await initSqlJs();
  const db = new SQL.Database(withWal(await readFile(file), wal));
  try {
    if (!hasTable(db, "transcript_events")) throw new Error(`${file}: not an OpenClaw agent database (no transcript_events table)`);
    const leftOut: LeftOut[] = [];
    const cold = new Set(
      hasTable(db, "session_transcript_cold_archives")
        ? rows(db, "SELECT session_id FROM session_transcript_cold_archives").map((r) => String(r.session_id))
        : [],
    );
    // each key's current session; a database without nodes (an older schema): each key's latest window
    const current = hasTable(db, "session_nodes")
      ? rows(db, "SELECT session_key AS key, current_session_id AS id FROM session_nodes ORDER BY session_key")
      : rows(
          db,
          "SELECT session_key AS key, session_id AS id FROM session_windows w WHERE updated_at = (SELECT max(updated_at) FROM session_windows WHERE " +
            "session_key = w.session_key) ORDER BY session_key",
        );
    const sessions: OpenClawSession[] = [];
    for (const { key, id } of current) {
      const sessionId = String(id);
      const source = `${file} (session ${sessionId})`;
      if (cold.has(sessionId)) {
        leftOut.push({ source, why: `${String(key)}: in OpenClaw's cold storage (restore it with OpenClaw, then import again)` });
        continue;
      }
      const window = hasTable(db, "session_windows") ? rows(db, "SELECT account_id FROM session_windows WHERE session_id = ?", [sessionId])[0] : undefined;
      const events: unknown[] = [];
      let skipped = 0;
      for (const row of rows(db, "SELECT seq, event_json, event_zstd, event_utf8_bytes FROM transcript_events WHERE session_id = ? ORDER BY seq", [
        sessionId,
      ])) {
        try {
          events.push(eventOf(row));
        } catch {
          skipped++;
        }
      }
      sessions.push({
        agent,
        key: String(key),
        sessionId,
        source,
        account: typeof window?.account_id === "string" ? window.account_id : undefined,
        events,
        skipped,
      });
    }
    return { sessions, leftOut };
  } finally {
    db.close();
  }
}
