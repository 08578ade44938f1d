/**
 * `claw import openclaw <dir>`: OpenClaw's conversations into Claw sessions,
 * so each user continues where they were.
 *
 * Both of OpenClaw's layouts are read (openclaw-state.ts); each current
 * session becomes the Claw session its user reaches (openclaw-session-key.ts):
 * one a client held with OpenClaw's `/v1/chat/completions` as `user: "x"`
 * continues as `user: "x"` on Claw's `/v1/chat/completions` and
 * `/v1/responses`, a Telegram direct chat in that chat. The HTTP session is
 * the one {@link httpChatAddress} gives the caller — the anonymous one of an
 * open gateway, or with `--key <id>` that API key's. Sessions OpenClaw kept
 * apart that meet in one Claw session (a user of both its chat completions
 * and its responses) are merged in time order. What was said comes over
 * (openclaw-transcript.ts); thinking, tools, commentary and injected
 * preambles stay behind.
 *
 * The Claw agent is `--agent`, else the OpenClaw agent's own id — which must
 * exist in Claw (OpenClaw's default `main` usually does not): nothing is
 * imported into an agent Claw does not have. Exits 1 when nothing was found
 * to import (a deleted session's archive, a trajectory, an empty store).
 */
import { BUCKETS, type Bus, type ChatAddress } from "../bus/index.js";
import {
  AgentSpecSchema,
  agentKind,
  importConversation,
  keepsConversation,
  sessionIdFor,
  type AgentKind,
  type AgentSpec,
  type ImportedExchange,
} from "../actors/index.js";
import { apiKeyStore, keyPrincipal, type Principal } from "../auth/index.js";
import { ANONYMOUS, httpChatAddress } from "../gateway/index.js";
import { createHash } from "node:crypto";
import { cliBus } from "./cli-connection.js";
import { targetOfSessionKey, type OpenClawTarget } from "./openclaw-session-key.js";
import { OpenClawStateError, readOpenClawState } from "./openclaw-state.js";
import type { LeftOut, OpenClawSession } from "./openclaw-session.js";
import { exchangesOf, headerIdOf, parseJsonl } from "./openclaw-transcript.js";

/** Options of {@link importOpenClawCommand}. */
export interface ImportOpenClawOptions {
  dir: string;
  /** the Claw agent every session goes to (default: the OpenClaw agent's id) */
  agent?: string;
  /** import for this API key's caller (its id, as `claw keys ls` shows it) instead of the anonymous one */
  key?: string;
  /** the Claw channel account of channel chats (default: OpenClaw's account of each) */
  account?: string;
  historyLimit: number;
  replace: boolean;
}

/** An OpenClaw session file's id and exchanges (one JSONL transcript). */
export function parseOpenClawSession(text: string, fallbackId: string): { id: string; exchanges: ImportedExchange[]; skipped: number } {
  const { events, skipped } = parseJsonl(text);
  return { id: headerIdOf(events) ?? fallbackId, exchanges: exchangesOf(events), skipped };
}

/** One Claw conversation to write: where, for whom, and from which OpenClaw sessions. */
interface Planned {
  agent: string;
  /** the agent's kind (one that keeps a conversation) */
  kind: AgentKind;
  addr: ChatAddress;
  session: string;
  sender: string;
  /** how the user reaches it, for the report */
  reach: string;
  sources: OpenClawSession[];
  exchanges: ImportedExchange[];
}

/** The Claw agents in KV `claw_registry`. */
async function clawAgents(bus: Bus): Promise<Map<string, AgentSpec>> {
  const kv = await bus.kvm.open(BUCKETS.registry);
  const agents = new Map<string, AgentSpec>();
  for await (const key of await kv.keys("agents.>")) {
    const e = await kv.get(key);
    if (e?.operation !== "PUT") continue;
    const spec = AgentSpecSchema.safeParse((JSON.parse(new TextDecoder().decode(e.value)) as { spec?: unknown }).spec);
    if (spec.success) agents.set(spec.data.id, spec.data);
  }
  return agents;
}

/** Where a session goes in Claw: its target, addressed. */
function place(
  s: OpenClawSession,
  agent: AgentSpec,
  principal: Principal,
  account: string | undefined,
): { addr: ChatAddress; sender: string; reach: string } | { skip: string } {
  // a loose transcript without a key continues under its session id, as before keys were read
  const t: OpenClawTarget = s.key ? targetOfSessionKey(s.key) : { kind: "http", session: s.sessionId, sender: "http" };
  if (t.kind === "skip") return { skip: t.why };
  if (t.kind === "http")
    return { addr: httpChatAddress(agent.id, t.session, principal), sender: t.sender, reach: `user ${JSON.stringify(t.session)} (or session on invoke)` };
  const acct = account ?? t.account ?? s.account ?? "default";
  return { addr: { channel: t.channel, account: acct, chat: t.chat }, sender: t.sender, reach: `${t.channel} account ${acct}, chat ${t.chat}` };
}

/** Runs the import. Returns the exit code. */
export async function importOpenClawCommand(o: ImportOpenClawOptions): Promise<number> {
  let found: { sessions: OpenClawSession[]; leftOut: LeftOut[] };
  try {
    found = await readOpenClawState(o.dir);
  } catch (e) {
    if (!(e instanceof OpenClawStateError)) throw e;
    process.stderr.write(`claw: ${e.message}: nothing imported\n`);
    return 1;
  }
  for (const l of found.leftOut) process.stderr.write(`left out ${l.source}: ${l.why}\n`);
  if (found.sessions.length === 0) {
    process.stderr.write(
      `claw: no OpenClaw sessions under ${o.dir} (expected agents/<agent>/agent/${"openclaw-agent.sqlite"} or agents/<agent>/sessions/*.jsonl)\n`,
    );
    return 1;
  }
  const bus = await cliBus();
  try {
    // the key's own principal: a rotated key files under its rotation chain's first key, as the gateway reaches it
    const record = o.key && /^[\w-]{1,64}$/.test(o.key) ? await apiKeyStore(await bus.kvm.open(BUCKETS.auth)).get(o.key) : undefined;
    if (o.key && !record) {
      process.stderr.write(`claw: no API key ${o.key} (see claw keys ls); nothing imported\n`);
      return 1;
    }
    const principal: Principal = record ? keyPrincipal(record) : ANONYMOUS;
    const agents = await clawAgents(bus);
    // every target agent must exist before anything is written
    const targets = [...new Set(found.sessions.map((s) => o.agent ?? s.agent ?? "main"))];
    const missing = targets.filter((a) => !agents.has(a));
    if (missing.length > 0) {
      const known = [...agents.keys()].sort().join(", ") || "none";
      process.stderr.write(
        `claw: no Claw agent ${missing.join(", ")}${o.agent ? "" : " (OpenClaw's agent id)"}: pass --agent <id> to choose one (Claw's agents: ` +
          `${known}); nothing imported\n`,
      );
      return 1;
    }
    // and keep a conversation to continue (not every agent kind keeps one)
    const kinds = new Map(
      [...agents.values()].flatMap((a) => {
        const kind = agentKind(a.kind);
        return kind && keepsConversation(kind) ? [[a.id, kind] as const] : [];
      }),
    );
    const forgetful = targets.filter((a) => !kinds.has(a));
    if (forgetful.length > 0) {
      process.stderr.write(
        `claw: agent ${forgetful.map((a) => `${a} (kind ${agents.get(a)!.kind})`).join(", ")} keeps no conversation to import into: pass --agent <id> ` +
          `to choose another; nothing imported\n`,
      );
      return 1;
    }
    const plans = new Map<string, Planned>();
    for (const s of found.sessions) {
      const agent = agents.get(o.agent ?? s.agent ?? "main")!;
      const p = place(s, agent, principal, o.account);
      if ("skip" in p) {
        process.stderr.write(`left out ${s.source} (${s.key}): ${p.skip}\n`);
        continue;
      }
      const session = sessionIdFor(agent, { ...p.addr, sender: { id: p.sender } });
      const k = `${agent.id}\u0000${session}`;
      const plan = plans.get(k) ?? {
        agent: agent.id,
        kind: kinds.get(agent.id)!,
        addr: p.addr,
        session,
        sender: p.sender,
        reach: p.reach,
        sources: [],
        exchanges: [],
      };
      plan.sources.push(s);
      plan.exchanges.push(...exchangesOf(s.events));
      plans.set(k, plan);
    }
    return await write(bus, [...plans.values()], o);
  } finally {
    await bus.close();
  }
}

/** Writes the planned conversations and reports; the exit code. */
async function write(bus: Bus, plans: Planned[], o: ImportOpenClawOptions): Promise<number> {
  const counts = { imported: 0, turns: 0, exists: 0, empty: 0 };
  for (const [i, p] of plans.entries()) {
    // sessions merged into one conversation keep the order they were held in
    const exchanges = p.exchanges.sort((a, b) => a.user.ts - b.user.ts);
    const ids = p.sources.map((s) => s.sessionId).sort();
    const idPrefix = `openclaw:${ids.length === 1 ? ids[0] : createHash("sha256").update(ids.join("\u0000")).digest("hex").slice(0, 16)}`;
    const r = await importConversation(
      bus,
      { agent: p.agent, ...p.addr, session: p.session, sender: p.sender, exchanges, idPrefix },
      { kind: p.kind, historyLimit: o.historyLimit, replace: o.replace },
    );
    counts[r.kind]++;
    if (r.kind === "imported") counts.turns += r.turns;
    const note =
      r.kind === "imported"
        ? `${r.turns} turns; continue as ${p.reach}`
        : r.kind === "exists"
          ? "already a Claw session (--replace to overwrite)"
          : "no exchanges";
    const skipped = p.sources.reduce((n, s) => n + s.skipped, 0);
    const from = p.sources.map((s) => (s.key ? `${s.source} (${s.key})` : s.source)).join(" + ");
    process.stderr.write(`[${i + 1}/${plans.length}] ${from} → ${p.agent} ${r.session}: ${note}${skipped ? ` (${skipped} unreadable lines skipped)` : ""}\n`);
  }
  process.stdout.write(`imported ${counts.imported} sessions (${counts.turns} turns); ${counts.exists} already there, ${counts.empty} without exchanges\n`);
  // nothing new and nothing that was already there: what was given held no conversation
  return counts.imported === 0 && counts.exists === 0 ? 1 : 0;
}
