/**
 * `claw inspect <agent> <session>`: a session's persisted state in KV
 * `claw_sessions` (state, turns, history) and whether a node runs it now,
 * asked on `claw.ctl.actors`. Secrets are redacted from what is printed.
 */
import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { NoRespondersError, type NatsConnection } from "@nats-io/transport-node";
import { createSessionStore, parseSessionId, type AssistantContext } from "../actors/index.js";
import { ACTORS_SUBJECT, BUCKETS, sessionKey } from "../bus/index.js";
import { scheduleStore, scheduleView, type ScheduleView } from "../schedules/index.js";
import type { Turn } from "../llm/index.js";
import { stateName, type ActorListing, type ActorQuery } from "../observability/index.js";
import { redactSecrets } from "../ui/index.js";
import { cliConnect } from "./cli-connection.js";

/** Options of {@link inspectCommand}. */
export interface InspectOptions {
  agent: string;
  session: string;
  json: boolean;
  /** how long to collect the nodes' answers about live actors (ms) */
  waitMs?: number;
}

/** Where a session actor runs now. */
export interface LiveSession {
  node: string;
  state: string;
  since: number;
}

/** What `claw inspect` reports about one session. */
export interface SessionReport {
  agent: string;
  session: string;
  /** KV key in `claw_sessions` and the actor's id */
  key: string;
  /** KV revision of the snapshot (0 = never persisted) */
  revision: number;
  /** false when an entry exists in a format this CLI does not read */
  readable: boolean;
  state?: string;
  status?: string;
  turns?: number;
  lastTurnId?: string;
  historyLimit?: number;
  history: Turn[];
  /** the message in progress, when the snapshot was taken mid-turn */
  current?: AssistantContext["current"];
  /** what a suspended turn waits for, one line per tool call (`agents.ask`: whom it asks) */
  waiting?: string[];
  failure?: AssistantContext["failure"];
  /** nodes that run the actor now (empty = passivated or never started) */
  live: LiveSession[];
  /** what the session will be sent: the schedules of its chat that this agent (or the chat's routing) answers */
  schedules: Array<Pick<ScheduleView, "id" | "text" | "next"> & { when: string }>;
}

/** Thrown when neither KV nor any node knows the session. */
export class SessionNotFoundError extends Error {
  override readonly name = "SessionNotFoundError";
  readonly code = "session_not_found";
  constructor(
    readonly agent: string,
    readonly session: string,
  ) {
    super(
      `no session "${session}" of agent "${agent}" in KV ${BUCKETS.sessions}, and no node runs it. ` +
        `Session ids are <channel>:<account>:<chat> (<channel>:<account>:@<sender> for agents with scope "sender"), e.g. claw inspect echo terminal:cli:me`,
    );
  }
}

/** Asks every node which of its live session actors has id `key`; collects answers until they go quiet, for at most `waitMs`. */
export async function findLiveSession(nc: NatsConnection, key: string, waitMs = 500): Promise<LiveSession[]> {
  const query: ActorQuery = { kind: "session", q: key };
  const out: LiveSession[] = [];
  try {
    const replies = await nc.requestMany(ACTORS_SUBJECT, JSON.stringify(query), { strategy: "stall", stall: 150, maxWait: waitMs });
    for await (const m of replies) {
      const listing = m.json<ActorListing>();
      // `q` matches a substring of the id: keep the exact session only
      for (const a of listing.actors ?? []) if (a.kind === "session" && a.id === key) out.push({ node: listing.node, state: a.state, since: a.since });
    }
  } catch (e) {
    // no node subscribes (none running): the session is not live anywhere
    if (!(e instanceof NoRespondersError)) throw e;
  }
  return out.sort((a, b) => a.node.localeCompare(b.node));
}

/** The schedules that put messages into the session's chat for `agent` (none for a sender's session, or before any node made the bucket). */
async function sessionSchedules(nc: NatsConnection, agent: string, session: string): Promise<SessionReport["schedules"]> {
  const chat = parseSessionId(session);
  if (!chat || chat.chat === undefined) return [];
  const kv = await new Kvm(jetstream(nc)).open(BUCKETS.schedules).catch(() => undefined);
  if (!kv) return [];
  const mine = (await scheduleStore(kv).list()).filter(
    (s) => s.address.channel === chat.channel && s.address.account === chat.account && s.address.chat === chat.chat && (s.agent ?? agent) === agent,
  );
  return mine.map(scheduleView).map((v) => ({
    id: v.id,
    text: v.text,
    next: v.next,
    when: v.at ? `at ${v.at}` : v.every !== undefined ? `every ${v.every / 1000}s` : `cron ${v.cron}${v.tz ? ` ${v.tz}` : ""}`,
  }));
}

/** Reads the session's snapshot and where it is live. Throws {@link SessionNotFoundError} when nobody knows it. */
export async function inspectSession(nc: NatsConnection, agent: string, session: string, waitMs?: number): Promise<SessionReport> {
  const key = sessionKey(agent, session);
  const kv = await new Kvm(jetstream(nc)).open(BUCKETS.sessions);
  const [stored, live] = await Promise.all([
    createSessionStore(kv, { jsm: await jetstreamManager(nc) })
      .load(key)
      .catch((e: unknown) => {
        // no node ever started against this NATS: there is no bucket, hence no session
        if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) return { snapshot: undefined, revision: 0 };
        throw e;
      }),
    findLiveSession(nc, key, waitMs),
  ]);
  const schedules = await sessionSchedules(nc, agent, session);
  if (stored.revision === 0 && live.length === 0) throw new SessionNotFoundError(agent, session);
  const snap = stored.snapshot as { status?: string; value?: unknown; context?: Partial<AssistantContext> } | undefined;
  const ctx = snap?.context;
  return {
    agent,
    session,
    key,
    revision: stored.revision,
    readable: stored.revision === 0 || snap !== undefined,
    state: snap ? stateName(snap.value) : undefined,
    status: snap?.status,
    turns: ctx?.turns,
    lastTurnId: ctx?.lastTurnId,
    historyLimit: ctx?.historyLimit,
    history: ctx?.history ?? [],
    current: ctx?.current,
    waiting: snap && ["acting.waiting", "acting.approving"].includes(stateName(snap.value)) ? waitsOf(ctx?.current) : [],
    failure: ctx?.failure,
    live,
    schedules,
  };
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** What each tool call of a suspended turn waits for; `agents.ask` as the agent it asks and the question, a held-back call as its approval. */
export function waitsOf(current: AssistantContext["current"] | undefined): string[] {
  return (current?.calls ?? []).map((c) => {
    const approval = current?.approvals?.find((a) => a.callId === c.id);
    if (approval) return `approval ${approval.id}: ${c.name} ${clip(c.arguments, 120)} (call ${c.id})`;
    if (c.name === "agents.ask") {
      try {
        const a = JSON.parse(c.arguments) as { agent?: unknown; text?: unknown; session?: unknown };
        if (typeof a.agent === "string") {
          const session = typeof a.session === "string" ? ` in its session ${a.session}` : "";
          return `agents.ask: asks agent ${a.agent}${session}: ${clip(JSON.stringify(a.text ?? ""), 120)} (call ${c.id})`;
        }
      } catch {
        /* arguments the model garbled: shown as they are */
      }
    }
    return `${c.name} ${clip(c.arguments, 120)} (call ${c.id})`;
  });
}

const time = (ts: number) => new Date(ts).toISOString().replace("T", " ").slice(0, 23);

/** The human view of a report. */
export function renderSessionReport(r: SessionReport): string {
  const out: string[] = [];
  out.push(`session   ${r.agent} / ${r.session}   (key ${r.key}, revision ${r.revision})`);
  if (r.revision === 0) out.push("state     not persisted yet (its first turn is in progress)");
  else if (!r.readable) out.push("state     stored in a format this CLI does not read (a newer Claw wrote it)");
  else out.push(`state     ${r.state}   turns ${r.turns ?? 0}   last turn ${r.lastTurnId ?? "-"}`);
  out.push(
    r.live.length === 0
      ? "live      no (passivated: the state above is loaded on its next message)"
      : `live      ${r.live.map((l) => `on ${l.node} since ${time(l.since)} (${l.state})`).join("; ")}`,
  );
  if (r.current) out.push(`current   ${r.current.envelope.id} attempt ${r.current.attempt}: ${JSON.stringify(r.current.envelope.text ?? "")}`);
  for (const s of r.schedules) out.push(`schedule  ${s.id} ${s.when}, next ${s.next ?? "never"}: ${JSON.stringify(s.text)}`);
  for (const w of r.waiting ?? []) out.push(`waiting   ${w}`);
  if (r.failure) out.push(`failure   ${r.failure.code}${r.failure.transient ? " (transient)" : ""}: ${r.failure.message}`);
  if (r.readable && r.revision > 0) {
    out.push(`history   ${r.history.length} turn(s)${r.historyLimit ? `, at most ${r.historyLimit} kept` : ""}`);
    const width = Math.max(0, ...r.history.map((t) => t.role.length));
    for (const t of r.history) out.push(`  ${time(t.ts)}  ${t.role.padEnd(width)}  ${t.text}`);
  }
  return out.join("\n") + "\n";
}

/** Prints one session. Returns the exit code. */
export async function inspectCommand(o: InspectOptions): Promise<number> {
  const nc = await cliConnect();
  try {
    const report = redactSecrets(await inspectSession(nc, o.agent, o.session, o.waitMs)) as SessionReport;
    process.stdout.write(o.json ? JSON.stringify(report) + "\n" : renderSessionReport(report));
    return 0;
  } finally {
    await nc.close();
  }
}
