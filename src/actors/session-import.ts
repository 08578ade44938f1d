/**
 * Bringing conversations from elsewhere into Claw sessions: each exchange
 * becomes a transcript entry on `CLAW_TRANSCRIPTS` (as if Claw had answered
 * it) and the session's snapshot in KV remembers the last turns by
 * reference — so the next message to that session continues the
 * conversation, and `claw inspect` shows it.
 */
import { createActor, type Snapshot } from "xstate";
import { BUCKETS, encode, ENVELOPE_VERSION, sessionKey, transcriptSubject, type Bus, type Envelope } from "../bus/index.js";
import type { Turn } from "../llm/index.js";
import { createSessionStore, type TranscriptEntry } from "./session-store.js";
import { SnapshotConflictError } from "./errors.js";
import { chatSessionId } from "./session-id.js";
import type { AgentKind, TurnInput } from "./turn.js";

/** One exchange: what the user said and what was answered. */
export interface ImportedExchange {
  user: { text: string; ts: number };
  assistant: { text: string; ts: number };
}

/** A conversation to import, addressed as Claw addresses chats. */
export interface ImportedConversation {
  agent: string;
  channel: string;
  account: string;
  chat: string;
  exchanges: ImportedExchange[];
  /** prefix of the envelope ids (unique per source conversation) */
  idPrefix: string;
  /**
   * the session the agent keeps this chat's conversation in, as ingress
   * names it ({@link sessionIdFor}: per chat, or per sender); default
   * `<channel>:<account>:<chat>`
   */
  session?: string;
  /** who the user is (the user turns' sender); default `user` */
  sender?: string;
}

/** How one import ended. */
export type ImportOutcome = { kind: "imported"; turns: number; session: string } | { kind: "exists"; session: string } | { kind: "empty"; session: string };

/** A new, idle session of `kind`: persisted as the host would write it, and its context. */
function idleSession(kind: AgentKind, input: TurnInput): { persisted: Snapshot<unknown>; context: Record<string, unknown> } {
  const actor = createActor(kind.machine, { input });
  actor.start();
  const persisted = actor.getPersistedSnapshot();
  const context: Record<string, unknown> = actor.getSnapshot().context;
  actor.stop();
  return { persisted, context };
}

/** True when sessions of `kind` keep a conversation (a history in their context) that one can be imported into. */
export function keepsConversation(kind: AgentKind): boolean {
  return Array.isArray(idleSession(kind, { agent: "-", session: "-", historyLimit: 0 }).context.history);
}

/**
 * Writes a conversation as a Claw session of `o.kind` (the agent's kind,
 * which must {@link keepsConversation}); an existing session is left alone
 * unless `replace`.
 */
export async function importConversation(
  bus: Bus,
  c: ImportedConversation,
  o: { kind: AgentKind; historyLimit: number; replace?: boolean },
): Promise<ImportOutcome> {
  const session = c.session ?? chatSessionId(c);
  const key = sessionKey(c.agent, session);
  if (c.exchanges.length === 0) return { kind: "empty", session };
  const kv = await bus.kvm.open(BUCKETS.sessions);
  const store = createSessionStore(kv, { jsm: bus.jsm });
  const current = await kv.get(key);
  const revision = current && current.operation === "PUT" ? current.revision : 0;
  if (revision > 0 && !o.replace) return { kind: "exists", session };
  const base = { channel: c.channel, account: c.account, chat: c.chat, media: [], metadata: { imported: true }, trace: {} };
  const history: Turn[] = [];
  const refs: number[] = [];
  for (const [i, x] of c.exchanges.entries()) {
    const user: Envelope = {
      v: ENVELOPE_VERSION,
      ...base,
      id: `${c.idPrefix}:${i}`,
      ts: x.user.ts,
      sender: { id: c.sender ?? "user" },
      kind: "message",
      text: x.user.text,
    };
    const assistant: Envelope = {
      v: ENVELOPE_VERSION,
      ...base,
      id: `${c.idPrefix}:${i}:reply:0`,
      ts: x.assistant.ts,
      sender: { id: c.agent },
      kind: "reply",
      text: x.assistant.text,
      replyTo: user.id,
      metadata: { imported: true, agent: c.agent, session },
    };
    const entry: TranscriptEntry = { agent: c.agent, session, user, assistant };
    const ack = await bus.js.publish(transcriptSubject(c.agent, session), encode(entry), { msgID: `${user.id}:transcript` });
    refs.push(ack.seq);
    history.push(
      { role: "user", text: user.text!, id: user.id, ts: user.ts },
      { role: "assistant", text: assistant.text!, id: assistant.id, ts: assistant.ts },
    );
  }
  // the kind's own snapshot shape, idle, with the imported memory
  const idle = idleSession(o.kind, { agent: c.agent, session, historyLimit: o.historyLimit });
  const keep = o.historyLimit;
  const context = {
    ...idle.context,
    turns: c.exchanges.length,
    lastTurnId: `${c.idPrefix}:${c.exchanges.length - 1}`,
    history: history.slice(Math.max(0, history.length - keep)),
    historyRefs: refs.slice(Math.max(0, refs.length - Math.ceil(keep / 2))),
  };
  try {
    await store.save(key, { ...idle.persisted, context }, revision);
  } catch (e) {
    if (e instanceof SnapshotConflictError) return { kind: "exists", session };
    throw e;
  }
  return { kind: "imported", turns: c.exchanges.length, session };
}
