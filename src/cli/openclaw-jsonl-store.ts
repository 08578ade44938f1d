/**
 * OpenClaw 2026.4.x's sessions: `agents/<agent>/sessions/<session id>.jsonl`
 * transcripts, and `sessions.json` mapping each session key to its current
 * session (`{ "<key>": { "sessionId": …, "sessionFile"?: … } }`).
 *
 * Left out, and said so: `*.trajectory.jsonl` (a run's events, not a
 * conversation), `*.jsonl.deleted.*` (sessions deleted in OpenClaw) and, when
 * `sessions.json` is there, transcripts no key points at any more (windows a
 * daily or idle reset closed).
 */
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { parseJsonl } from "./openclaw-transcript.js";
import type { LeftOut, OpenClawSession } from "./openclaw-session.js";

/** Why a file in a sessions folder is not a conversation to import, or undefined when it may be one. */
export function notASession(name: string): string | undefined {
  if (/\.jsonl\.deleted\./.test(name)) return "deleted in OpenClaw";
  if (name.endsWith(".trajectory.jsonl")) return "a trajectory (a run's events), not a conversation";
  if (!name.endsWith(".jsonl")) return "not a transcript";
  return undefined;
}

/** One transcript file as a session. */
export async function readJsonlSession(file: string, agent: string | undefined, key?: string): Promise<OpenClawSession> {
  const { events, skipped } = parseJsonl(await readFile(file, "utf8"));
  return { agent, key, sessionId: basename(file, ".jsonl"), source: file, events, skipped };
}

/** The sessions of one agent's `sessions` folder. */
export async function readJsonlStore(dir: string, agent: string | undefined): Promise<{ sessions: OpenClawSession[]; leftOut: LeftOut[] }> {
  const names = (await readdir(dir, { withFileTypes: true })).filter((n) => n.isFile()).map((n) => n.name);
  const leftOut: LeftOut[] = [];
  const index = names.includes("sessions.json") ? await readIndex(join(dir, "sessions.json"), leftOut) : undefined;
  const sessions: OpenClawSession[] = [];
  const taken = new Set<string>();
  for (const [key, entry] of Object.entries(index ?? {})) {
    const name = entry.sessionFile ? basename(entry.sessionFile) : `${entry.sessionId}.jsonl`;
    if (!names.includes(name)) {
      leftOut.push({ source: join(dir, name), why: `no transcript for ${key}` });
      continue;
    }
    taken.add(name);
    sessions.push(await readJsonlSession(join(dir, name), agent, key));
  }
  for (const name of names.sort()) {
    if (name === "sessions.json" || taken.has(name)) continue;
    const why = notASession(name);
    if (why) {
      if (why !== "not a transcript") leftOut.push({ source: join(dir, name), why });
      continue;
    }
    // without an index every transcript is a conversation of its own; with one, an unlisted one was closed
    if (index) leftOut.push({ source: join(dir, name), why: "no session key points at it any more (a reset closed it)" });
    else sessions.push(await readJsonlSession(join(dir, name), agent));
  }
  return { sessions, leftOut };
}

async function readIndex(file: string, leftOut: LeftOut[]): Promise<Record<string, { sessionId: string; sessionFile?: string }>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch (e) {
    leftOut.push({ source: file, why: `unreadable: ${(e as Error).message}` });
    return {};
  }
  const out: Record<string, { sessionId: string; sessionFile?: string }> = {};
  for (const [key, v] of Object.entries(typeof parsed === "object" && parsed !== null ? parsed : {})) {
    const e = v as { sessionId?: unknown; sessionFile?: unknown };
    if (typeof e?.sessionId === "string" && /^[\w.-]+$/.test(e.sessionId))
      out[key] = { sessionId: e.sessionId, ...(typeof e.sessionFile === "string" ? { sessionFile: e.sessionFile } : {}) };
  }
  return out;
}
