/**
 * The pieces of a reply being written, as the agent streams it: published
 * on `claw.delta.<channel>.<account>.<chat>` (core NATS, best effort) for
 * whoever shows them (the chat completions endpoint, web chats, channels
 * that edit what they sent). One shape, written and read here.
 */
import { decode, encode } from "./codec.js";

/** A piece of the reply to message `replyTo`: the `seq`-th, its `text` to append. */
export interface ReplyPiece {
  replyTo: string;
  seq: number;
  text: string;
}

/** The bytes of a piece on the bus. */
export function encodeReplyPiece(p: ReplyPiece): Uint8Array {
  return encode({ replyTo: p.replyTo, seq: p.seq, text: p.text });
}

/** The piece in a delta message, or undefined when it is not one. */
export function decodeReplyPiece(data: Uint8Array): ReplyPiece | undefined {
  let d: { replyTo?: unknown; seq?: unknown; text?: unknown };
  try {
    d = decode(data);
  } catch {
    return undefined;
  }
  if (typeof d?.replyTo !== "string" || typeof d.text !== "string") return undefined;
  return { replyTo: d.replyTo, seq: typeof d.seq === "number" ? d.seq : 0, text: d.text };
}
