/**
 * OpenClaw state directories as OpenClaw writes them, for the importer's
 * tests: 2026.4.x's `agents/<agent>/sessions/` (JSONL transcripts,
 * `sessions.json`, trajectories, deleted archives) and 2026.9.x's
 * `agents/<agent>/agent/openclaw-agent.sqlite`, made with sql.js from the
 * tables' own DDL (copied verbatim from openclaw@2026.9.6's agent schema:
 * only the tables the importer reads, and those they reference) — its
 * `octet_length` CHECK needs SQLite >= 3.43, as a real reader does. Events
 * of 1 KiB and more are stored zstd-compressed, as OpenClaw's runtime does
 * where Node has zstd (compressed here with the `zstd` tool).
 */
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import initSqlJs from "sql.js";

/** The DDL of the tables read, from openclaw@2026.9.6 (`OPENCLAW_AGENT_SCHEMA_SQL`). */
export const OPENCLAW_AGENT_TABLES_DDL = `
CREATE TABLE IF NOT EXISTS schema_meta (
  meta_key TEXT NOT NULL PRIMARY KEY,
  role TEXT NOT NULL,
  schema_version INTEGER NOT NULL,
  agent_id TEXT,
  app_version TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS session_nodes (
  session_key TEXT NOT NULL PRIMARY KEY,
  current_session_id TEXT NOT NULL,
  entry_json TEXT NOT NULL,
  legacy_acp_migration_json TEXT,
  entry_valid INTEGER NOT NULL DEFAULT 0 CHECK (entry_valid IN (-1, 0, 1)),
  updated_at INTEGER NOT NULL,
  status TEXT CHECK (status IS NULL OR status IN ('running', 'done', 'failed', 'killed', 'timeout')),
  created_at INTEGER,
  created_via TEXT CHECK (created_via IS NULL OR created_via IN ('operator', 'spawn', 'channel', 'cron', 'talk', 'run', 'plugin', 'internal')),
  created_actor_type TEXT CHECK (created_actor_type IS NULL OR created_actor_type IN ('human', 'agent', 'system')),
  created_actor_id TEXT,
  owner_actor_type TEXT,
  owner_actor_id TEXT,
  owner_assigned_by_type TEXT,
  owner_assigned_by_id TEXT,
  owner_assigned_at INTEGER,
  project_id TEXT,
  parent_session_key TEXT,
  spawned_by TEXT,
  fork_source_session_key TEXT,
  fork_source_session_id TEXT,
  fork_source_entry_id TEXT,
  label TEXT,
  display_name TEXT,
  category TEXT,
  icon TEXT,
  pinned_at INTEGER,
  archived_at INTEGER,
  last_read_at INTEGER,
  last_interaction_at INTEGER,
  last_activity_at INTEGER
) STRICT;

CREATE TABLE IF NOT EXISTS session_windows (
  session_id TEXT NOT NULL PRIMARY KEY,
  session_key TEXT NOT NULL,
  previous_session_id TEXT,
  reason TEXT CHECK (reason IS NULL OR reason IN ('initial', 'reset', 'rollover', 'fork', 'rewind', 'switch', 'recovery', 'compaction')),
  session_scope TEXT NOT NULL DEFAULT 'conversation' CHECK (session_scope IN ('conversation', 'shared-main', 'group', 'channel')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  transcript_updated_at INTEGER DEFAULT NULL,
  transcript_observed_at INTEGER DEFAULT NULL,
  session_entry_provenance INTEGER NOT NULL DEFAULT 0 CHECK (session_entry_provenance IN (0, 1)),
  acp_owned INTEGER NOT NULL DEFAULT 0 CHECK (acp_owned IN (0, 1)),
  plugin_owner_id TEXT,
  hook_external_content_source TEXT CHECK (hook_external_content_source IS NULL OR hook_external_content_source IN ('gmail', 'webhook')),
  started_at INTEGER,
  ended_at INTEGER,
  status TEXT CHECK (status IS NULL OR status IN ('running', 'done', 'failed', 'killed', 'timeout')),
  chat_type TEXT CHECK (chat_type IS NULL OR chat_type IN ('direct', 'group', 'channel')),
  channel TEXT,
  account_id TEXT,
  primary_conversation_id TEXT,
  model_provider TEXT,
  model TEXT,
  agent_harness_id TEXT,
  parent_session_key TEXT,
  spawned_by TEXT,
  display_name TEXT,
  FOREIGN KEY (session_key) REFERENCES session_nodes(session_key) ON DELETE CASCADE,
  FOREIGN KEY (primary_conversation_id) REFERENCES conversations(conversation_id) ON DELETE SET NULL
) STRICT;

CREATE TABLE IF NOT EXISTS conversations (
  conversation_id TEXT NOT NULL PRIMARY KEY,
  channel TEXT NOT NULL,
  account_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('direct', 'group', 'channel')),
  peer_id TEXT NOT NULL,
  delivery_target TEXT NOT NULL,
  parent_conversation_id TEXT,
  thread_id TEXT,
  native_channel_id TEXT,
  native_direct_user_id TEXT,
  label TEXT,
  metadata_json TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS transcript_events (
  session_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  event_json TEXT,
  created_at INTEGER NOT NULL,
  event_zstd BLOB,
  event_utf8_bytes INTEGER CHECK (event_utf8_bytes IS NULL OR event_utf8_bytes >= 0),
  navigation_json TEXT,
  PRIMARY KEY (session_id, seq),
  FOREIGN KEY (session_id) REFERENCES "session_windows"(session_id) ON DELETE CASCADE,
  CHECK (
    (event_json IS NOT NULL AND event_zstd IS NULL)
    OR (
      event_json IS NULL AND event_zstd IS NOT NULL
      AND event_utf8_bytes IS NOT NULL
      AND event_utf8_bytes BETWEEN 1 AND 4194304
      AND length(event_zstd) BETWEEN 1 AND 4194304
      AND navigation_json IS NOT NULL
    )
  ),
  CHECK (
    navigation_json IS NULL OR CASE WHEN json_valid(navigation_json) THEN coalesce(
      octet_length(navigation_json) <= 16384
      AND json_type(navigation_json, '$.version') = 'integer'
      AND json_extract(navigation_json, '$.version') = 1
      AND json_type(navigation_json, '$.report') = 'object'
      AND json_extract(navigation_json, '$.report.kind') IN ('canonical', 'leaf', 'link', 'ignored')
      AND json_type(navigation_json, '$.navigation') = 'object'
      AND json_type(navigation_json, '$.reset') = 'object'
      AND json_type(navigation_json, '$.model') = 'object'
      AND json_type(navigation_json, '$.modelBytes') = 'integer'
      AND json_extract(navigation_json, '$.modelBytes') BETWEEN 0 AND 4194304
      AND json_type(navigation_json, '$.modelWithoutCheckpointBytes') = 'integer'
      AND json_extract(navigation_json, '$.modelWithoutCheckpointBytes') BETWEEN 0 AND 4194304
      AND json_type(navigation_json, '$.withoutCustomDataBytes') = 'integer'
      AND json_extract(navigation_json, '$.withoutCustomDataBytes') BETWEEN 0 AND 4194304,
      0) ELSE 0 END
  )
) STRICT;

CREATE TABLE IF NOT EXISTS session_transcript_cold_archives (
  session_id TEXT NOT NULL PRIMARY KEY,
  generation TEXT NOT NULL,
  archive_name TEXT NOT NULL UNIQUE,
  archive_sha256 TEXT NOT NULL CHECK (length(archive_sha256) = 64),
  event_count INTEGER NOT NULL CHECK (event_count >= 1),
  raw_bytes INTEGER NOT NULL CHECK (raw_bytes >= 0),
  archive_bytes INTEGER NOT NULL CHECK (archive_bytes >= 0),
  last_seq INTEGER NOT NULL,
  archived_at INTEGER NOT NULL,
  storage TEXT NOT NULL CHECK (storage IN ('file', 'sqlite')),
  archive_blob BLOB,
  FOREIGN KEY (session_id) REFERENCES "session_windows"(session_id) ON DELETE CASCADE,
  CHECK (length(archive_name) > 0 AND archive_name NOT IN ('.', '..') AND archive_name NOT LIKE '%/%' AND archive_name NOT LIKE '%\\%'),
  CHECK ((storage = 'file' AND archive_blob IS NULL) OR (storage = 'sqlite' AND archive_blob IS NOT NULL))
) STRICT;
`;

/** One exchange as it happened in OpenClaw. */
export interface OpenClawTurn {
  user: string;
  /** text the assistant wrote before calling a tool (never shown) */
  commentary?: string;
  /** a tool it called on the way (its result is not conversation) */
  tool?: string;
  answer: string;
}

/** A session to write: its key, id and turns. */
export interface OpenClawSessionSpec {
  key: string;
  id: string;
  turns: OpenClawTurn[];
  /** 2026.4.x: the first user message carries the "[Bootstrap pending]" preamble */
  bootstrap?: boolean;
}

const BOOTSTRAP = [
  "[Bootstrap pending]",
  "Please read BOOTSTRAP.md from the workspace and follow it before replying normally.",
  "If this run can complete the BOOTSTRAP.md workflow, do so.",
  "Your first user-visible reply for a bootstrap-pending workspace must follow BOOTSTRAP.md, not a generic greeting.",
].join("\n");

const signature = (id: string, phase: "commentary" | "final_answer") => JSON.stringify({ v: 1, id, phase });

/** The events of a session, in the order OpenClaw appends them (each entry's parent the one before). */
export function transcriptEvents(s: OpenClawSessionSpec, o: { version: number; start: number }): Array<Record<string, unknown>> {
  let t = o.start;
  const at = () => {
    t += 1000;
    return { ms: t, iso: new Date(t).toISOString() };
  };
  const head = at();
  const events: Array<Record<string, unknown>> = [{ type: "session", version: o.version, id: s.id, timestamp: head.iso, cwd: "/home/u/.openclaw/workspace" }];
  let parent: string | null = null;
  const add = (e: Record<string, unknown>) => {
    const id = `e${events.length}`;
    events.push({ ...e, id, parentId: parent });
    parent = id;
  };
  add({ type: "model_change", timestamp: head.iso, provider: "openai", modelId: "gpt-5.4" });
  add({ type: "thinking_level_change", timestamp: head.iso, thinkingLevel: "low" });
  s.turns.forEach((turn, i) => {
    const u = at();
    const text = i === 0 && s.bootstrap ? `${BOOTSTRAP}\n\n${turn.user}` : turn.user;
    add({ type: "message", timestamp: u.iso, message: { role: "user", content: [{ type: "text", text }], timestamp: u.ms } });
    if (turn.tool) {
      const a = at();
      const content: unknown[] = [{ type: "thinking", thinking: "private reasoning about the tool", thinkingSignature: "sig" }];
      if (turn.commentary) content.push({ type: "text", text: turn.commentary, textSignature: signature(`msg_c${i}`, "commentary") });
      content.push({ type: "toolCall", id: `call_${i}`, name: turn.tool, arguments: { path: "notes.md" } });
      add({
        type: "message",
        timestamp: a.iso,
        message: { role: "assistant", content, api: "openai-responses", provider: "openai", model: "gpt-5.4", stopReason: "toolUse", timestamp: a.ms },
      });
      const r = at();
      add({
        type: "message",
        timestamp: r.iso,
        message: {
          role: "toolResult",
          toolCallId: `call_${i}`,
          toolName: turn.tool,
          isError: false,
          content: [{ type: "text", text: "tool output that is not conversation" }],
          timestamp: r.ms,
        },
      });
    }
    const b = at();
    add({
      type: "message",
      timestamp: b.iso,
      message: {
        role: "assistant",
        content: [{ type: "text", text: turn.answer, textSignature: signature(`msg_a${i}`, "final_answer") }],
        api: "openai-responses",
        provider: "openai",
        model: "gpt-5.4",
        usage: { input: 120, output: 30 },
        stopReason: "stop",
        timestamp: b.ms,
      },
    });
  });
  return events;
}

/** 2026.4.x: `<state>/agents/<agent>/sessions/` with transcripts, `sessions.json`, trajectories and a deleted session's archive. */
export async function writeJsonlState(state: string, agent: string, sessions: OpenClawSessionSpec[], deleted: OpenClawSessionSpec[] = []): Promise<string> {
  const dir = join(state, "agents", agent, "sessions");
  await mkdir(dir, { recursive: true });
  const index: Record<string, unknown> = {};
  for (const [i, s] of sessions.entries()) {
    const lines = transcriptEvents(s, { version: 3, start: Date.UTC(2026, 3, 20, 9, i) }).map((e) => JSON.stringify(e));
    await writeFile(join(dir, `${s.id}.jsonl`), lines.join("\n") + "\n");
    // a run's trajectory sits beside its transcript, and is not one
    await writeFile(
      join(dir, `${s.id}.trajectory.jsonl`),
      JSON.stringify({ type: "run.started", runId: `run-${i}`, sessionId: s.id, ts: Date.UTC(2026, 3, 20) }) + "\n",
    );
    index[s.key] = { sessionId: s.id, updatedAt: Date.UTC(2026, 3, 20, 10), sessionFile: join(dir, `${s.id}.jsonl`), chatType: "direct", compactionCount: 0 };
  }
  for (const s of deleted) {
    const lines = transcriptEvents(s, { version: 3, start: Date.UTC(2026, 3, 19) }).map((e) => JSON.stringify(e));
    await writeFile(join(dir, `${s.id}.jsonl.deleted.2026-04-21T08-00-00.000Z.3f9a2c.zst`), zstd(Buffer.from(lines.join("\n") + "\n")));
  }
  await writeFile(join(dir, "sessions.json"), JSON.stringify(index, null, 2));
  return dir;
}

/** zstd-compresses with the `zstd` tool (OpenClaw's runtime uses Node's zlib, which Node 20 lacks). */
export function zstd(data: Buffer): Buffer {
  return execFileSync("zstd", ["-q", "-c", "-1"], { input: data });
}

/** 2026.9.x: `<state>/agents/<agent>/agent/openclaw-agent.sqlite`, and the archives deleted sessions leave in `sessions/`. */
export async function writeSqliteState(
  state: string,
  agent: string,
  sessions: OpenClawSessionSpec[],
  o: { deleted?: OpenClawSessionSpec[]; account?: string } = {},
): Promise<string> {
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  db.exec(OPENCLAW_AGENT_TABLES_DDL);
  const now = Date.UTC(2026, 8, 20, 10);
  db.run(
    "INSERT INTO schema_meta (meta_key, role, schema_version, agent_id, app_version, created_at, updated_at) VALUES ('agent', 'agent', 23, ?, " +
      "'2026.9.6', ?, ?)",
    [agent, now, now],
  );
  for (const [i, s] of sessions.entries()) {
    db.run("INSERT INTO session_nodes (session_key, current_session_id, entry_json, updated_at, created_at) VALUES (?, ?, ?, ?, ?)", [
      s.key,
      s.id,
      JSON.stringify({ sessionId: s.id, updatedAt: now }),
      now,
      now,
    ]);
    db.run("INSERT INTO session_windows (session_id, session_key, reason, created_at, updated_at, channel, account_id) VALUES (?, ?, 'initial', ?, ?, ?, ?)", [
      s.id,
      s.key,
      now,
      now,
      s.key.includes(":telegram:") ? "telegram" : null,
      o.account ?? "default",
    ]);
    for (const [seq, e] of transcriptEvents(s, { version: 4, start: Date.UTC(2026, 8, 20, 9, i) }).entries()) {
      const json = JSON.stringify(e);
      const bytes = Buffer.from(json, "utf8");
      if (bytes.length < 1024) {
        db.run("INSERT INTO transcript_events (session_id, seq, event_json, created_at, event_utf8_bytes) VALUES (?, ?, ?, ?, ?)", [
          s.id,
          seq + 1,
          json,
          now,
          bytes.length,
        ]);
        continue;
      }
      const navigation = JSON.stringify({
        version: 1,
        report: { kind: "canonical" },
        navigation: {},
        reset: {},
        model: {},
        modelBytes: bytes.length,
        modelWithoutCheckpointBytes: bytes.length,
        withoutCustomDataBytes: bytes.length,
      });
      db.run(
        "INSERT INTO transcript_events (session_id, seq, event_json, event_zstd, event_utf8_bytes, navigation_json, created_at) VALUES (?, ?, NULL, " +
          "?, ?, ?, ?)",
        [s.id, seq + 1, zstd(bytes), bytes.length, navigation, now],
      );
    }
  }
  const dir = join(state, "agents", agent, "agent");
  await mkdir(dir, { recursive: true });
  const file = join(dir, "openclaw-agent.sqlite");
  await writeFile(file, db.export());
  db.close();
  // a deleted session leaves its rows behind and only an archive
  const sessionsDir = join(state, "agents", agent, "sessions");
  await mkdir(sessionsDir, { recursive: true });
  for (const s of o.deleted ?? []) {
    const lines = transcriptEvents(s, { version: 4, start: Date.UTC(2026, 8, 19) }).map((e) => JSON.stringify(e));
    await writeFile(join(sessionsDir, `${s.id}.jsonl.deleted.2026-09-21T08-00-00.000Z.7be41d.zst`), zstd(Buffer.from(lines.join("\n") + "\n")));
  }
  return file;
}
