/**
 * What was said in an OpenClaw transcript, as exchanges Claw can import.
 *
 * Both of OpenClaw's layouts hold the same events (the JSONL lines of
 * 2026.4.x, the `transcript_events` rows of 2026.9.x): a `session` header,
 * then entries with `id` and `parentId` forming a tree (a rewind or a fork
 * starts a branch; a `leaf` entry moves the active end). Only what the user
 * saw of the active branch becomes history:
 *
 * - the branch from its leaf back to the root, after the latest `reset`
 *   (`/new`, `/reset` keep the session id) — or from the entry it keeps;
 * - user text without what OpenClaw injected into it (the "[Bootstrap
 *   pending] …" preamble of 2026.4.x);
 * - assistant text without thinking, tool calls, tool results, commentary
 *   (text marked `phase: "commentary"`, or written before a tool call in the
 *   same message: OpenClaw did not show it) and silent `NO_REPLY` answers.
 */
import type { ImportedExchange } from "../actors/index.js";

interface Block {
  type?: string;
  text?: string;
  textSignature?: string;
}

interface Entry {
  type?: string;
  id?: string;
  parentId?: string | null;
  targetId?: string | null;
  firstKeptEntryId?: string;
  timestamp?: string | number;
  message?: { role?: string; content?: string | Block[]; timestamp?: number; phase?: string };
}

/**
 * Lines OpenClaw put in front of what a user wrote, each starting with its
 * marker and ended by a blank line: dropped with it. A table, so the next
 * one is a line here.
 */
const INJECTED_PREAMBLES: readonly string[] = ["[Bootstrap pending]"];

/** A user's text without the preambles OpenClaw injected into it. */
export function withoutPreambles(text: string): string {
  let t = text.trimStart();
  for (const marker of INJECTED_PREAMBLES) {
    if (!t.startsWith(marker)) continue;
    const end = t.indexOf("\n\n");
    // nothing after it: the whole message was injected
    t = end < 0 ? "" : t.slice(end + 2).trimStart();
  }
  return t.trim();
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The phase a text block was marked with (`{"v":1,"id":…,"phase":"commentary"}` in its signature). */
function phaseOf(block: Block): string | undefined {
  const sig = block.textSignature;
  if (typeof sig !== "string" || !sig.startsWith("{")) return undefined;
  try {
    const parsed = JSON.parse(sig) as { v?: unknown; phase?: unknown };
    return parsed.v === 1 && typeof parsed.phase === "string" ? parsed.phase : undefined;
  } catch {
    return undefined;
  }
}

const SILENT = /^\s*NO_REPLY\s*$/i;

/** What the user saw of an assistant message. */
function shownText(m: NonNullable<Entry["message"]>): string {
  if (m.phase === "commentary") return "";
  const c = m.content;
  if (typeof c === "string") return SILENT.test(c) ? "" : c.trim();
  const blocks = (c ?? []).filter(isRecord) as Block[];
  // text beside a tool call was written on the way to it: commentary, whether marked or not
  if (blocks.some((b) => b.type === "toolCall" || b.type === "tool_use" || b.type === "toolUse")) return "";
  const text = blocks
    .filter((b) => b.type === "text" && typeof b.text === "string" && phaseOf(b) !== "commentary")
    .map((b) => b.text!)
    .join("\n")
    .trim();
  return SILENT.test(text) ? "" : text;
}

/** What a user message said. */
function userText(m: NonNullable<Entry["message"]>): string {
  const c = m.content;
  const raw =
    typeof c === "string"
      ? c
      : ((c ?? []).filter(isRecord) as Block[])
          .filter((b) => b.type === "text" && typeof b.text === "string")
          .map((b) => b.text!)
          .join("\n");
  return withoutPreambles(raw);
}

/** The entries of the active branch, oldest first (all of them when they do not form a tree). */
function activeBranch(entries: Entry[]): Entry[] {
  const linked = entries.filter((e) => typeof e.id === "string" && e.type !== "session");
  if (linked.length === 0 || !linked.every((e) => "parentId" in e)) return entries;
  const byId = new Map(linked.map((e) => [e.id!, e]));
  const last = linked[linked.length - 1]!;
  let at: string | null | undefined = last.type === "leaf" ? last.targetId : last.id;
  const path: Entry[] = [];
  const seen = new Set<string>();
  while (typeof at === "string" && !seen.has(at)) {
    seen.add(at);
    const e = byId.get(at);
    if (!e) break;
    if (e.type !== "leaf") path.push(e);
    at = e.parentId;
  }
  return path.reverse();
}

/** The branch after its latest reset (from the entry the reset keeps, when it keeps one). */
function afterReset(branch: Entry[]): Entry[] {
  let last = -1;
  branch.forEach((e, i) => {
    if (e.type === "reset") last = i;
  });
  if (last < 0) return branch;
  const kept = branch[last]!.firstKeptEntryId;
  const from = kept ? branch.findIndex((e) => e.id === kept) : -1;
  return from >= 0 && from < last ? [...branch.slice(from, last), ...branch.slice(last + 1)] : branch.slice(last + 1);
}

/** The session header's id, when the events have one. */
export function headerIdOf(events: readonly unknown[]): string | undefined {
  const h = events.find((e) => isRecord(e) && e.type === "session" && typeof e.id === "string") as Entry | undefined;
  return h?.id;
}

/** The exchanges of a transcript's events (parsed JSON, in the order OpenClaw wrote them). */
export function exchangesOf(events: readonly unknown[]): ImportedExchange[] {
  const entries = events.filter(isRecord) as Entry[];
  const exchanges: ImportedExchange[] = [];
  let pending: { text: string; ts: number } | undefined;
  let answer: { text: string; ts: number } | undefined;
  const flush = () => {
    if (pending && answer) exchanges.push({ user: pending, assistant: answer });
    pending = undefined;
    answer = undefined;
  };
  for (const e of afterReset(activeBranch(entries))) {
    if (e.type !== "message" || !isRecord(e.message)) continue;
    const m = e.message;
    const ts = typeof m.timestamp === "number" ? m.timestamp : typeof e.timestamp === "number" ? e.timestamp : Date.parse(String(e.timestamp)) || 0;
    if (m.role === "user") {
      flush();
      const said = userText(m);
      if (said) pending = { text: said, ts };
    } else if (m.role === "assistant" && pending) {
      const said = shownText(m);
      // an answer may come in several messages (text, a tool call, more text): what was shown is one reply
      if (said) answer = answer ? { text: `${answer.text}\n\n${said}`, ts } : { text: said, ts };
    }
  }
  flush();
  return exchanges;
}

/** A JSONL transcript's events, and how many of its lines were not JSON. */
export function parseJsonl(text: string): { events: unknown[]; skipped: number } {
  const events: unknown[] = [];
  let skipped = 0;
  for (const raw of text.split("\n")) {
    if (!raw.trim()) continue;
    try {
      events.push(JSON.parse(raw));
    } catch {
      skipped++;
    }
  }
  return { events, skipped };
}
