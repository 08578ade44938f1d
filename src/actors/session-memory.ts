/**
 * A session's memory, the part of every agent machine's context the session
 * store knows about: the bounded history of user and assistant turns, the
 * transcript sequences that let the store keep it by reference, and a summary
 * of what fell out of the window. Pure functions over it.
 */
import type { Turn } from "../llm/index.js";

/** The memory fields of a session's context (persisted). */
export interface SessionMemory {
  /** remembered turns at most (entries, a user and an assistant one per turn) */
  historyLimit: number;
  /** the last N turns, oldest first */
  history: Turn[];
  /**
   * `CLAW_TRANSCRIPTS` sequences of the turns in `history`, oldest first, when
   * every one of them was transcribed: then the store keeps the history there
   * instead of in every snapshot. Cleared by a turn without a transcript.
   */
  historyRefs?: number[];
  /** a summary of the turns that no longer fit the agent's token budget, through the entry with id `through` */
  summary?: { text: string; through: string };
}

/** The history with `turns` appended, cut to the limit. */
export function appendHistory(m: SessionMemory, ...turns: Turn[]): Turn[] {
  const h = m.history.concat(turns);
  return h.length > m.historyLimit ? h.slice(h.length - m.historyLimit) : h;
}

/** The transcript sequences of the turns kept (one entry per turn: ⌈limit / 2⌉), or none if this turn has none. */
export function appendRefs(m: SessionMemory, seq: number | undefined): number[] | undefined {
  if (seq === undefined) return undefined;
  const refs = (m.historyRefs ?? []).concat(seq);
  const keep = Math.ceil(m.historyLimit / 2);
  return refs.length > keep ? refs.slice(refs.length - keep) : refs;
}

/** True when `historyRefs` name every turn in `history` (so the history can be rebuilt from the transcripts). */
export function historyInTranscripts(m: Pick<SessionMemory, "history" | "historyRefs">): boolean {
  return m.historyRefs !== undefined && m.historyRefs.length * 2 >= m.history.length;
}

/** Approximate tokens of a text: about four characters a token, plus a few for the message around it. */
export function approxTokens(text: string): number {
  return Math.ceil(text.length / 4) + 4;
}

/**
 * The newest part of the history that fits `budget` tokens (whole user +
 * assistant pairs), and how many older entries were left out.
 */
export function historyWithin(history: readonly Turn[], budget: number): { kept: Turn[]; dropped: number } {
  let used = 0;
  let from = history.length;
  for (let i = history.length - 1; i >= 0; i--) {
    used += approxTokens(history[i]!.text);
    if (used > budget) break;
    from = i;
  }
  // never start a window with an assistant entry: its question would be missing
  while (from < history.length && history[from]!.role === "assistant") from++;
  return { kept: history.slice(from), dropped: from };
}
