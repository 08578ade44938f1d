/**
 * The reply a turn already got, for a retry that the duplicate window
 * absorbed into it: the HTTP channel's replies stay on `CLAW_OUT` (nothing
 * consumes them), and a retry must be answered with the first try's reply
 * even when the conversation has moved on since.
 *
 * Read without consuming (`STREAM.MSG.GET`, which nats-server 2.9 has): the
 * chat's latest message first — a retry usually comes within seconds — else
 * the chat's messages since the turn could have been answered: a reply comes
 * after its message was accepted, and a message the duplicate window still
 * knew was accepted within the window, so the search starts there (found by
 * bisecting the stream on time) instead of at the chat's beginning.
 */
import type { JetStreamManager, SeqMsgRequest } from "@nats-io/jetstream";
import { decode, outboundSubject, STREAMS, wildcards, type ChatAddress, type Envelope } from "../bus/index.js";

/**
 * `STREAM.MSG.GET`'s "the first message of `next_by_subj` at or after `seq`":
 * a sequence request with the subject beside it (the client's `MsgRequest`
 * lists only `seq` and `last_by_subj`, and sends the object as it is).
 */
type NextBySubjectRequest = SeqMsgRequest & { next_by_subj: string };
const nextOf = (seq: number, subject: string): NextBySubjectRequest => ({ seq, next_by_subj: subject });

/** At most this many of the chat's messages are read past the starting point. */
const MAX_SCANNED = 500;

const replyTo = (data: Uint8Array): Envelope | undefined => {
  try {
    return decode<Envelope>(data);
  } catch {
    return undefined;
  }
};

/**
 * The reply to message `id` in chat `addr`, published at or after `sinceMs`;
 * undefined when there is none yet.
 */
export async function storedReply(jsm: JetStreamManager, addr: ChatAddress, id: string, sinceMs: number): Promise<Envelope | undefined> {
  const subject = outboundSubject(addr);
  const last = await jsm.streams.getMessage(STREAMS.out, { last_by_subj: subject });
  if (!last) return undefined;
  const latest = replyTo(last.data);
  if (latest?.replyTo === id) return latest;
  // the first sequence whose next message (of any chat: the stream has gaps) is not older than sinceMs
  const first = (await jsm.streams.info(STREAMS.out)).state.first_seq;
  let lo = first;
  let hi = last.seq;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const m = await jsm.streams.getMessage(STREAMS.out, nextOf(mid, wildcards.outbound));
    if (m && m.seq < hi && m.time.getTime() < sinceMs) lo = m.seq + 1;
    else hi = mid;
  }
  for (let seq = lo, n = 0; seq < last.seq && n < MAX_SCANNED; n++) {
    const m = await jsm.streams.getMessage(STREAMS.out, nextOf(seq, subject));
    if (!m || m.seq >= last.seq) return undefined;
    const e = replyTo(m.data);
    if (e?.replyTo === id) return e;
    seq = m.seq + 1;
  }
  return undefined;
}
