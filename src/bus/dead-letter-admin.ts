/**
 * Operating on dead letters: list, show, replay to the original subject, purge.
 * Used by `claw dlq`.
 */
import { JetStreamApiError, type JetStreamClient, type JetStreamManager, type StoredMsg } from "@nats-io/jetstream";
import { ReplayTargetError } from "./errors.js";
import { H } from "./headers.js";
import { publishDurable } from "./publisher.js";
import { STREAMS } from "./specs.js";
import { dlqSubject, subjectFamily, type SubjectFamily } from "./subjects.js";

/** A dead letter as stored in `CLAW_DLQ`. */
export interface DeadLetterRecord {
  seq: number;
  stage: string;
  code: string;
  reason: string;
  /** where the message was first published (and where replay sends it) */
  originalSubject: string;
  deliveries: number;
  node: string;
  time: string;
  field?: string;
  msgId?: string;
  firstError?: string;
  lastError?: string;
  size: number;
  data: Uint8Array;
  /** every header, including the original message's own */
  headers: Record<string, string>;
}

function toRecord(m: StoredMsg): DeadLetterRecord {
  const headers: Record<string, string> = {};
  for (const k of m.header?.keys() ?? []) headers[k] = m.header.get(k);
  const h = (k: string) => headers[k] || undefined;
  return {
    seq: m.seq,
    stage: h(H.dlq.stage) ?? m.subject.split(".").slice(2).join("."),
    code: h(H.dlq.code) ?? "unknown",
    reason: h(H.dlq.reason) ?? "",
    originalSubject: h(H.dlq.subject) ?? "",
    deliveries: Number(h(H.dlq.deliveries) ?? 0),
    node: h(H.dlq.node) ?? "",
    time: h(H.dlq.time) ?? m.time.toISOString(),
    field: h(H.dlq.field),
    msgId: h(H.clawMsgId),
    firstError: h(H.dlq.firstError),
    lastError: h(H.dlq.lastError),
    size: m.data.length,
    data: m.data,
    headers,
  };
}

/** No message at that sequence (never was, or deleted / replayed). */
export class DeadLetterNotFoundError extends Error {
  readonly code = "DLQ_NOT_FOUND";
  constructor(seq: number) {
    super(`no dead letter with sequence ${seq} in ${STREAMS.dlq}`);
    this.name = "DeadLetterNotFoundError";
  }
}

/** Reads one dead letter, or undefined when there is none at `seq`. */
export async function getDeadLetter(jsm: JetStreamManager, seq: number): Promise<DeadLetterRecord | undefined> {
  try {
    const m = await jsm.streams.getMessage(STREAMS.dlq, { seq });
    return m ? toRecord(m) : undefined;
  } catch (e) {
    if (e instanceof JetStreamApiError && e.status === 404) return undefined;
    throw e;
  }
}

/** Lists dead letters, oldest first (from `fromSeq` on); `stage` filters, `limit` bounds the count. */
export async function listDeadLetters(
  jsm: JetStreamManager,
  o: { stage?: string; limit?: number; fromSeq?: number; where?: (r: DeadLetterRecord) => boolean } = {},
): Promise<DeadLetterRecord[]> {
  const info = await jsm.streams.info(STREAMS.dlq);
  const out: DeadLetterRecord[] = [];
  const limit = o.limit ?? 100;
  for (let seq = Math.max(info.state.first_seq, o.fromSeq ?? 0); seq <= info.state.last_seq && out.length < limit && info.state.messages > 0; seq++) {
    const r = await getDeadLetter(jsm, seq);
    if (r && (!o.stage || r.stage === o.stage) && (!o.where || o.where(r))) out.push(r);
  }
  return out;
}

/** The headers a replay carries: the original message's, without the dead-letter ones. */
function replayHeaders(r: DeadLetterRecord, msgId: string): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) if (!k.startsWith("Claw-Dlq-")) h[k] = v;
  h[H.msgId] = msgId;
  return h;
}

/** Families any dead letter may be replayed into: what a node reads as a message or as a session's mail. */
const REPLAY_ANYWHERE: ReadonlySet<SubjectFamily> = new Set(["in", "session"]);
/** Families a dead letter may be replayed into only when it came from one of them (a skill's invocation to a skill). */
const REPLAY_SAME_FAMILY: ReadonlySet<SubjectFamily> = new Set(["skill", "webhook"]);

/**
 * Checks where a replay would publish, whether `to` or the letter's own
 * original subject (a header, which anyone who can publish to `claw.dlq.>`
 * could have planted): inbound and session mailboxes, or the original's own
 * family of skill invocations or webhook deliveries. Never JetStream's KV or
 * API (`$KV.`, `$JS.` — a replayed record there forged an API key), the
 * server's (`$SYS.`), the control plane (`claw.ctl.`), the replies
 * (`claw.out.`, which would speak in any chat) or anything else. The one
 * check of `POST /v1/dlq/{seq}/replay` and `claw dlq replay`.
 * @throws {@link ReplayTargetError}
 */
export function checkReplayTarget(target: string, original: string): void {
  const family = subjectFamily(target);
  if (family && (REPLAY_ANYWHERE.has(family) || (REPLAY_SAME_FAMILY.has(family) && subjectFamily(original) === family))) return;
  const why =
    family === "out"
      ? "replies are never replayed (a reply cannot be sent into a chat this way)"
      : family
        ? `only a dead letter from claw.${family}.… may go back there`
        : "it is not a subject Claw reads messages from";
  throw new ReplayTargetError(
    target,
    `cannot replay to ${JSON.stringify(target)}: ${why}. A dead letter is replayed to inbound (claw.in.<channel>.<account>.<chat>), a session's ` +
      `mailbox (claw.session.<p>.<agent>.<session>) or, for a skill invocation or a webhook delivery, back to its own kind`,
  );
}

/**
 * Republishes a dead letter to its original subject (or `to`), keeping its
 * bytes, headers and envelope id, then deletes it from the DLQ (unless `keep`).
 * Only to a subject {@link checkReplayTarget} allows.
 * The replay's `Nats-Msg-Id` is `replay:<seq>`: replaying the same letter twice
 * within the duplicate window publishes it once.
 */
export async function replayDeadLetter(
  jsm: JetStreamManager,
  js: JetStreamClient,
  seq: number,
  o: { to?: string; keep?: boolean } = {},
): Promise<{ subject: string; duplicate: boolean }> {
  const r = await getDeadLetter(jsm, seq);
  if (!r) throw new DeadLetterNotFoundError(seq);
  const subject = o.to ?? r.originalSubject;
  checkReplayTarget(subject, r.originalSubject);
  const ack = await publishDurable(js, { subject, data: r.data, msgId: `replay:${seq}`, headers: replayHeaders(r, `replay:${seq}`) });
  if (!o.keep) await jsm.streams.deleteMessage(STREAMS.dlq, seq, false);
  return { subject, duplicate: ack.duplicate };
}

/** Removes dead letters (of one stage, or all); returns how many. */
export async function purgeDeadLetters(jsm: JetStreamManager, stage?: string): Promise<number> {
  const r = await jsm.streams.purge(STREAMS.dlq, stage ? { filter: dlqSubject(stage) } : undefined);
  return r.purged;
}
