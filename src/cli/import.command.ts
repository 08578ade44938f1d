/**
 * `claw import openclaw <dir>`: OpenClaw's session transcripts into Claw
 * sessions, so a user moves with their conversations.
 *
 * OpenClaw keeps each agent's sessions as JSONL under
 * `<state dir>/agents/<agent>/sessions/<session id>.jsonl` (the state dir is
 * `~/.openclaw`): a `session` line, then `message` lines whose `message` has
 * a `role` (`user`, `assistant`, `toolResult`) and `content` parts (`text`,
 * `thinking`, tool calls). Each user message and the assistant's text that
 * answers it become one exchange; thinking, tool calls and tool results are
 * left out (Claw's history keeps what was said). `<dir>` may be the state
 * dir, an agent's folder, its `sessions` folder, or one file.
 *
 * Each session becomes the Claw session the conversation continues in: by
 * default `http:<agent>:<session id>`, i.e.
 * `POST /v1/agents/<agent>/invoke {"session": "<session id>"}`.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { importConversation, type ImportedExchange } from "../actors/index.js";
import { cliBus } from "./cli-connection.js";

interface OpenClawLine {
  type?: string;
  id?: string;
  timestamp?: string | number;
  message?: { role?: string; content?: string | Array<{ type?: string; text?: string }>; timestamp?: number };
}

/** An OpenClaw session file: its id and its exchanges. */
export function parseOpenClawSession(text: string, fallbackId: string): { id: string; exchanges: ImportedExchange[]; skipped: number } {
  let id = fallbackId;
  const exchanges: ImportedExchange[] = [];
  let pending: { text: string; ts: number } | undefined;
  let answer: { text: string; ts: number } | undefined;
  let skipped = 0;
  const flush = () => {
    if (pending && answer) exchanges.push({ user: pending, assistant: answer });
    pending = undefined;
    answer = undefined;
  };
  for (const raw of text.split("\n")) {
    if (!raw.trim()) continue;
    let l: OpenClawLine;
    try {
      l = JSON.parse(raw) as OpenClawLine;
    } catch {
      skipped++;
      continue;
    }
    if (l.type === "session" && typeof l.id === "string") id = l.id;
    if (l.type !== "message" || !l.message) continue;
    const ts = typeof l.message.timestamp === "number" ? l.message.timestamp : Date.parse(String(l.timestamp)) || 0;
    const c = l.message.content;
    const said = (typeof c === "string" ? c : (c ?? []).filter((p) => p.type === "text" && typeof p.text === "string").map((p) => p.text!).join("\n")).trim();
    if (l.message.role === "user") {
      flush();
      if (said) pending = { text: said, ts };
    } else if (l.message.role === "assistant" && pending && said) {
      // an answer may come in several messages (text, a tool call, more text): they are one reply
      answer = answer ? { text: `${answer.text}\n\n${said}`, ts } : { text: said, ts };
    }
  }
  flush();
  return { id, exchanges, skipped };
}

/** The session files under `dir`, with the OpenClaw agent each belongs to. */
async function sessionFiles(dir: string): Promise<Array<{ agent: string; file: string }>> {
  const s = await stat(dir).catch(() => {
    throw new Error(`${dir}: no such file or folder`);
  });
  if (s.isFile()) return [{ agent: "main", file: dir }];
  const names = await readdir(dir, { withFileTypes: true });
  const jsonl = names.filter((n) => n.isFile() && n.name.endsWith(".jsonl"));
  if (jsonl.length > 0) {
    const agent = basename(dir) === "sessions" ? basename(join(dir, "..")) : basename(dir);
    return jsonl.map((n) => ({ agent, file: join(dir, n.name) }));
  }
  if (names.some((n) => n.isDirectory() && n.name === "sessions")) return sessionFiles(join(dir, "sessions"));
  if (names.some((n) => n.isDirectory() && n.name === "agents")) {
    const agents = await readdir(join(dir, "agents"), { withFileTypes: true });
    const all = await Promise.all(agents.filter((a) => a.isDirectory()).map((a) => sessionFiles(join(dir, "agents", a.name, "sessions")).catch(() => [])));
    return all.flat();
  }
  return [];
}

/** Runs the import. Returns the exit code. */
export async function importOpenClawCommand(o: { dir: string; agent?: string; channel: string; historyLimit: number; replace: boolean }): Promise<number> {
  const files = await sessionFiles(o.dir);
  if (files.length === 0) {
    process.stderr.write(`claw: no OpenClaw sessions under ${o.dir} (expected agents/<agent>/sessions/*.jsonl)\n`);
    return 1;
  }
  const bus = await cliBus();
  const counts = { imported: 0, turns: 0, exists: 0, empty: 0 };
  try {
    for (const [i, f] of files.entries()) {
      const parsed = parseOpenClawSession(await readFile(f.file, "utf8"), basename(f.file, ".jsonl"));
      const agent = o.agent ?? f.agent;
      const r = await importConversation(bus, { agent, channel: o.channel, account: agent, chat: parsed.id, exchanges: parsed.exchanges, idPrefix: `openclaw:${parsed.id}` }, { historyLimit: o.historyLimit, replace: o.replace });
      counts[r.kind]++;
      if (r.kind === "imported") counts.turns += r.turns;
      const note = r.kind === "imported" ? `${r.turns} turns` : r.kind === "exists" ? "already a Claw session (--replace to overwrite)" : "no exchanges";
      process.stderr.write(`[${i + 1}/${files.length}] ${f.file} → ${agent} ${r.session}: ${note}${parsed.skipped ? ` (${parsed.skipped} unreadable lines skipped)` : ""}\n`);
    }
  } finally {
    await bus.close();
  }
  process.stdout.write(`imported ${counts.imported} sessions (${counts.turns} turns); ${counts.exists} already there, ${counts.empty} without exchanges. Continue one with POST /v1/agents/<agent>/invoke {"session": "<its id>"}${o.channel === "http" ? "" : ` (channel ${o.channel})`}\n`);
  return 0;
}
