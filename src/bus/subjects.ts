/**
 * Every NATS subject Claw uses is built here and nowhere else.
 *
 * Tokens are made subject-safe (and KV-key-safe) by one reversible encoder:
 * `[A-Za-z0-9_-]` pass through, every other UTF-8 byte becomes `=HH`, and the
 * empty string becomes a lone `=`. Ordinary ids (`12345`, `-100123`, `C04ABC`,
 * `bot_1`) are therefore unchanged on the wire.
 *
 * @see https://docs.nats.io/nats-concepts/subjects
 */
import { InvalidSubjectError } from "./errors.js";

/** Root of every Claw subject. */
export const ROOT = "claw";
/** Longest encoded token accepted (NATS has no hard limit; long subjects cost memory in every index). */
export const MAX_TOKEN_LENGTH = 256;

const SAFE = /^[A-Za-z0-9_-]$/;
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes one value as a subject token. Reversible with {@link decodeToken}. */
export function encodeToken(value: string): string {
  if (value === "") return "=";
  let out = "";
  for (const ch of value) {
    if (SAFE.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of utf8.encode(ch)) out += "=" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  if (out.length > MAX_TOKEN_LENGTH) {
    throw new InvalidSubjectError(`token too long: ${out.length} > ${MAX_TOKEN_LENGTH} encoded characters`);
  }
  return out;
}

/**
 * Decodes a token. Lenient for outside publishers: characters that are legal in
 * a NATS token but not produced by the encoder (`+`, `@`, `:` …) are taken
 * literally, and a `=` not followed by two hex digits is literal too.
 */
export function decodeToken(token: string): string {
  if (token === "=") return "";
  if (!token.includes("=")) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length;) {
    const hex = token.slice(i + 1, i + 3);
    if (token[i] === "=" && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      const cp = token.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      bytes.push(...utf8.encode(ch));
      i += ch.length;
    }
  }
  try {
    return utf8Decoder.decode(new Uint8Array(bytes));
  } catch {
    return token;
  }
}

/** True when `token` is a legal literal NATS subject token (no wildcard, dot or whitespace). */
export function isLiteralToken(token: string): boolean {
  return token.length > 0 && !/[\s.*>]/.test(token) && !/[\u0000-\u001f\u007f]/.test(token);
}

/** The address of a chat on a channel: the three tokens every inbound/outbound subject carries. */
export interface ChatAddress {
  channel: string;
  account: string;
  chat: string;
}

function chatTokens(a: ChatAddress): string {
  return `${encodeToken(a.channel)}.${encodeToken(a.account)}.${encodeToken(a.chat)}`;
}

function checkPartition(p: number): number {
  if (!Number.isInteger(p) || p < 0) throw new InvalidSubjectError(`invalid partition ${p}`);
  return p;
}

/** `claw.in.<channel>.<account>.<chat>`: raw inbound, published by adapters and outside systems. */
export function inboundSubject(a: ChatAddress): string {
  return `${ROOT}.in.${chatTokens(a)}`;
}

/** `claw.in.<p>.<channel>.<account>.<chat>`: inbound after partitioning (what `CLAW_IN` stores). */
export function partitionedInboundSubject(p: number, a: ChatAddress): string {
  return `${ROOT}.in.${checkPartition(p)}.${chatTokens(a)}`;
}

/** `claw.session.<p>.<agent>.<session>`: a session's mailbox for everything that is not a fresh inbound. */
export function sessionSubject(p: number, agent: string, session: string): string {
  return `${ROOT}.session.${checkPartition(p)}.${encodeToken(agent)}.${encodeToken(session)}`;
}

/** `claw.out.<channel>.<account>.<chat>`: a reply to deliver. */
export function outboundSubject(a: ChatAddress): string {
  return `${ROOT}.out.${chatTokens(a)}`;
}

/** `claw.in.<channel>.<account>.>` and `claw.out.<channel>.<account>.>`: every chat of one channel account, in and out. */
export function accountWildcards(channel: string, account: string): { inbound: string; outbound: string } {
  const tokens = `${encodeToken(channel)}.${encodeToken(account)}`;
  return { inbound: `${ROOT}.in.${tokens}.>`, outbound: `${ROOT}.out.${tokens}.>` };
}

/** `claw.delta.<channel>.<account>.<chat>`: streamed pieces of a reply in progress (core NATS, best effort). */
export function deltaSubject(a: ChatAddress): string {
  return `${ROOT}.delta.${chatTokens(a)}`;
}

/** `claw.transcript.<agent>.<session>`: the audit trail of one session, a turn a message. */
export function transcriptSubject(agent: string, session: string): string {
  return `${ROOT}.transcript.${encodeToken(agent)}.${encodeToken(session)}`;
}

/** `claw.skill.<skill>.invoke`: a skill invocation request. */
export function skillInvokeSubject(skill: string): string {
  return `${ROOT}.skill.${encodeToken(skill)}.invoke`;
}

/** `claw.skill-result.<id>`: where a waiter (HTTP invoke, `claw skills invoke`) hears a skill's result (core NATS). */
export function skillResultSubject(id: string): string {
  return `${ROOT}.skill-result.${encodeToken(id)}`;
}

/** `claw.ctl.skill-cancel`: invocations to stop (core NATS, every worker listens; outside `claw.skill.>`, which CLAW_SKILLS stores). */
export const SKILL_CANCEL_SUBJECT = `${ROOT}.ctl.skill-cancel`;

/** `claw.dlq.<stage>`: a dead letter from `stage`. */
export function dlqSubject(stage: string): string {
  return `${ROOT}.dlq.${encodeToken(stage)}`;
}

/** The stage of a {@link dlqSubject} (what follows `claw.dlq.`, decoded); undefined for anything else. */
export function parseDlqSubject(subject: string): string | undefined {
  const prefix = `${ROOT}.dlq.`;
  return subject.startsWith(prefix) ? decodeToken(subject.slice(prefix.length)) : undefined;
}

/** `claw.events.<kind>.<…rest>`: actor and lifecycle events on core NATS. */
export function eventSubject(kind: string, ...rest: string[]): string {
  return [ROOT, "events", kind, ...rest].map((t, i) => (i < 2 ? t : encodeToken(t))).join(".");
}

/** `claw.ctl.node.<node>.ping`: one node's presence (it answers while its process is on the bus). */
export function nodePingSubject(node: string): string {
  return `${ROOT}.ctl.node.${encodeToken(node)}.ping`;
}

/** `claw.ctl.passivate`: operators (and the sessions bench) ask every node to passivate idle sessions now (request/reply). */
export const PASSIVATE_SUBJECT = `${ROOT}.ctl.passivate`;

/** `claw.ctl.watch`: "publish the events of these actors" (the live view's watch requests, core NATS). */
export const WATCH_SUBJECT = `${ROOT}.ctl.watch`;

/** `claw.ctl.actors`: where live actors are listed (request/reply, one reply per node). */
export const ACTORS_SUBJECT = `${ROOT}.ctl.actors`;

/** `claw.ctl.channels`: where nodes are asked for their channel accounts (request/reply, one reply per node). */
export const CHANNELS_SUBJECT = `${ROOT}.ctl.channels`;

/**
 * `claw.events.actor.<kind>.<id>`: one actor's live events (core NATS). `id`
 * is already made of subject tokens (a session's is its session key,
 * `<agent>.<session>`), or a wildcard (`>`) for a watcher.
 */
export function actorEventSubject(kind: string, id: string): string {
  return `${ROOT}.events.actor.${encodeToken(kind)}.${id}`;
}

/** `claw.ctl.ws.takeover.<account>.<chat>`: a web chat session has a newer connection (core NATS, every node's gateway listens). */
export function wsTakeoverSubject(a: { account: string; chat: string }): string {
  return `${ROOT}.ctl.ws.takeover.${encodeToken(a.account)}.${encodeToken(a.chat)}`;
}

/** Parses {@link wsTakeoverSubject}; undefined for anything else. */
export function parseWsTakeoverSubject(subject: string): { account: string; chat: string } | undefined {
  const t = subject.split(".");
  if (t.length !== 6 || t[0] !== ROOT || t[1] !== "ctl" || t[2] !== "ws" || t[3] !== "takeover") return undefined;
  return { account: decodeToken(t[4]!), chat: decodeToken(t[5]!) };
}

/**
 * `$KV.<bucket>.<key>`: the subject JetStream stores a KV key's values on (for
 * a publish that expects the key's last revision, or a filter over keys: `key`
 * may end in a wildcard).
 */
export function kvKeySubject(bucket: string, key: string): string {
  return `$KV.${bucket}.${key}`;
}

/** The JetStream API subject of direct gets from `stream` (a stream that allows them, e.g. a KV bucket's `KV_<bucket>`). */
export function directGetSubject(stream: string): string {
  return `$JS.API.DIRECT.GET.${stream}`;
}

/** The key of a {@link kvKeySubject} of `bucket`; undefined for any other subject. */
export function parseKvKeySubject(bucket: string, subject: string): string | undefined {
  const prefix = `$KV.${bucket}.`;
  return subject.startsWith(prefix) ? subject.slice(prefix.length) : undefined;
}

/**
 * The server mapping that partitions raw inbound (`claw.in.<c>.<a>.<chat>` →
 * `claw.in.<p>.<c>.<a>.<chat>`, `p` from the three tokens), as nats-server's
 * `mappings` block takes it.
 */
export function inboundPartitionMapping(partitions: number): { from: string; to: string } {
  return { from: wildcards.rawInbound, to: `${ROOT}.in.{{partition(${partitions},1,2,3)}}.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}` };
}

/** Wildcards for subscriptions and stream/consumer filters. */
export const wildcards = {
  /** every Claw subject (what `claw tail` shows by default) */
  all: `${ROOT}.>`,
  /** raw inbound (before partitioning): exactly three tokens after `claw.in` */
  rawInbound: `${ROOT}.in.*.*.*`,
  /** one channel's raw inbound */
  rawInboundOfChannel: (channel: string) => `${ROOT}.in.${encodeToken(channel)}.*.*`,
  /** every partitioned inbound message */
  partitionedInbound: `${ROOT}.in.*.*.*.*`,
  /** one channel's partitioned inbound, in every partition */
  partitionedInboundOfChannel: (channel: string) => `${ROOT}.in.*.${encodeToken(channel)}.*.*`,
  /** one partition's inbound (a stream filter must be a subset of the stream's subjects, so no `>`) */
  inboundPartition: (p: number) => `${ROOT}.in.${checkPartition(p)}.*.*.*`,
  /**
   * `CLAW_IN`'s subjects: each partition's inbound, listed, so that a subject
   * no partition owner reads (`claw.in.shop.a.b.c`) is not stored at all
   */
  inboundPartitions: (partitions: number): string[] => Array.from({ length: partitions }, (_, p) => wildcards.inboundPartition(p)),
  /** every session mailbox: `claw.session.<p>.<agent>.<session>` */
  sessions: `${ROOT}.session.*.*.*`,
  sessionPartition: (p: number) => `${ROOT}.session.${checkPartition(p)}.*.*`,
  /** `CLAW_SESSIONS`' subjects: each partition's mailboxes, listed (see `inboundPartitions`) */
  sessionPartitions: (partitions: number): string[] => Array.from({ length: partitions }, (_, p) => wildcards.sessionPartition(p)),
  outbound: `${ROOT}.out.>`,
  outboundChannel: (channel: string) => `${ROOT}.out.${encodeToken(channel)}.>`,
  /** the replies of one channel account (its runner's consumer filter) */
  outboundAccount: (channel: string, account: string) => `${ROOT}.out.${encodeToken(channel)}.${encodeToken(account)}.>`,
  /** the streamed pieces of one channel account's replies (see {@link deltaSubject}) */
  deltasOfAccount: (channel: string, account: string) => `${ROOT}.delta.${encodeToken(channel)}.${encodeToken(account)}.*`,
  /** what one channel account announces (see {@link channelEventSubject}) */
  channelEvents: (channel: string, account: string) => `${ROOT}.events.channel.${encodeToken(channel)}.${encodeToken(account)}.*`,
  skills: `${ROOT}.skill.>`,
  /** one skill's invocations (a worker pool's consumer filter) */
  skillInvocations: (skill: string) => `${ROOT}.skill.${encodeToken(skill)}.invoke`,
  transcripts: `${ROOT}.transcript.*.*`,
  dlq: `${ROOT}.dlq.>`,
  /** webhook deliveries: `claw.webhook.<subscription id>` */
  webhookDeliveries: `${ROOT}.webhook.*`,
  /** audit records: `claw.audit.<source>` (`http`, `cli`, `skills`) */
  audit: `${ROOT}.audit.>`,
  events: `${ROOT}.events.>`,
  /** every actor's live events (see {@link actorEventSubject}) */
  actorEvents: `${ROOT}.events.actor.>`,
  /** every web chat takeover (see {@link wsTakeoverSubject}) */
  wsTakeovers: `${ROOT}.ctl.ws.takeover.*.*`,
} as const;

/** `claw.webhook.<subscription>`: a delivery waiting to be made. */
export function webhookDeliverySubject(subscription: string): string {
  return `${ROOT}.webhook.${encodeToken(subscription)}`;
}

/** `claw.audit.<source>`: where an audit record of `http` (the gateway), `cli` or `skills` (the `audit.log` hook) goes. */
export function auditSubject(source: "http" | "cli" | "skills"): string {
  return `${ROOT}.audit.${source}`;
}

/** A channel account's actor id in the live view: `<type>-<account>`, each a subject token (a channel type has no "-"). */
export function channelActorId(type: string, account: string): string {
  return `${encodeToken(type)}-${encodeToken(account)}`;
}

/** The type and account of a {@link channelActorId}; undefined when it is not one. */
export function parseChannelActorId(id: string): { type: string; account: string } | undefined {
  const dash = id.indexOf("-");
  return dash < 1 ? undefined : { type: decodeToken(id.slice(0, dash)), account: decodeToken(id.slice(dash + 1)) };
}

/** `claw.events.channel.<type>.<account>.<event>`: what a channel account announces (a QR code to pair with, …). */
export function channelEventSubject(type: string, account: string, event: string): string {
  return `${ROOT}.events.channel.${encodeToken(type)}.${encodeToken(account)}.${encodeToken(event)}`;
}

/** The durable consumer name of one channel account's replies (`out-<channel>-<account>`, tokens encoded). */
export function channelConsumerName(channel: string, account: string): string {
  return `out-${encodeToken(channel)}-${encodeToken(account)}`;
}

/** The durable consumer name of one skill's worker pool (`skill-<token>`; names cannot hold dots, tokens do not). */
export function skillConsumerName(skill: string): string {
  return `skill-${encodeToken(skill)}`;
}

/** The parsed form of an inbound subject. */
export interface ParsedInbound extends ChatAddress {
  /** partition, when the subject is the partitioned form */
  partition?: number;
}

/**
 * Parses `claw.in.<channel>.<account>.<chat>` or `claw.in.<p>.<channel>.<account>.<chat>`.
 * Returns undefined for anything else.
 */
export function parseInboundSubject(subject: string): ParsedInbound | undefined {
  const t = subject.split(".");
  if (t[0] !== ROOT || t[1] !== "in") return undefined;
  if (t.length === 5) return { channel: decodeToken(t[2]!), account: decodeToken(t[3]!), chat: decodeToken(t[4]!) };
  if (t.length === 6 && /^\d+$/.test(t[2]!)) {
    return {
      partition: Number(t[2]),
      channel: decodeToken(t[3]!),
      account: decodeToken(t[4]!),
      chat: decodeToken(t[5]!),
    };
  }
  return undefined;
}

/** Parses `claw.session.<p>.<agent>.<session>`. */
export function parseSessionSubject(subject: string): { partition: number; agent: string; session: string } | undefined {
  const t = subject.split(".");
  if (t.length !== 5 || t[0] !== ROOT || t[1] !== "session" || !/^\d+$/.test(t[2]!)) return undefined;
  return { partition: Number(t[2]), agent: decodeToken(t[3]!), session: decodeToken(t[4]!) };
}

/** Parses `claw.<kind>.<channel>.<account>.<chat>`. */
function parseChatSubject(subject: string, kind: "out" | "delta"): ChatAddress | undefined {
  const t = subject.split(".");
  if (t.length !== 5 || t[0] !== ROOT || t[1] !== kind) return undefined;
  return { channel: decodeToken(t[2]!), account: decodeToken(t[3]!), chat: decodeToken(t[4]!) };
}

/** Parses `claw.out.<channel>.<account>.<chat>`. */
export function parseOutboundSubject(subject: string): ChatAddress | undefined {
  return parseChatSubject(subject, "out");
}

/** Parses `claw.delta.<channel>.<account>.<chat>`. */
export function parseDeltaSubject(subject: string): ChatAddress | undefined {
  return parseChatSubject(subject, "delta");
}

/** The families of Claw's data-path subjects, as {@link subjectFamily} tells them. */
export type SubjectFamily = "in" | "session" | "skill" | "webhook" | "out";

/**
 * Which of Claw's data-path families a literal subject belongs to: raw or
 * partitioned inbound, a session mailbox, a skill's invocations, a webhook
 * delivery, a reply. Undefined for anything else (`$KV.…`, `claw.ctl.…`, a
 * wildcard, a token no encoder makes).
 */
export function subjectFamily(subject: string): SubjectFamily | undefined {
  const t = subject.split(".");
  if (t[0] !== ROOT || !t.every(isLiteralToken)) return undefined;
  if (parseInboundSubject(subject)) return "in";
  if (parseSessionSubject(subject)) return "session";
  if (t.length === 4 && t[1] === "skill" && t[3] === "invoke") return "skill";
  if (t.length === 3 && t[1] === "webhook") return "webhook";
  if (parseOutboundSubject(subject)) return "out";
  return undefined;
}

/** The KV key of a session snapshot in `claw_sessions`: `<agent>.<session>` (the actor's id). */
export function sessionKey(agent: string, session: string): string {
  return `${encodeToken(agent)}.${encodeToken(session)}`;
}

/** Durable consumer name for one partition of a stage (derived from its filter, one place). */
export function partitionConsumerName(stage: "in" | "session", p: number): string {
  return `${stage}-p${checkPartition(p)}`;
}
