/**
 * Mail threads as Claw chats: a thread's chat is derived from its root
 * Message-ID (the first of `References`, else `In-Reply-To`, else the mail's
 * own), hashed into a subject-safe token, so that every mail of a thread —
 * and the agent's answers in it — lands in one session. Also what a reply
 * needs to thread in the sender's client: `Re:` once, `In-Reply-To`,
 * `References`, and a Message-ID of its own.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5322#section-3.6.4
 */
import { createHash } from "node:crypto";

/** The most `References` a reply carries: the root and the latest ones (RFC 5322 §3.6.4 keeps the first). */
const MAX_REFERENCES = 20;

/** `<abc@host>` or `abc@host` → `abc@host` (trimmed, angle brackets off); empty → undefined. */
export function bareMessageId(id: string | undefined): string | undefined {
  const bare = id?.trim().replace(/^<+/, "").replace(/>+$/, "").trim();
  return bare ? bare : undefined;
}

/** Message-IDs from a header value (`<a@x> <b@y>`), or from a list mailparser already split. */
export function messageIds(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  const text = typeof value === "string" ? value : value.join(" ");
  const bracketed = [...text.matchAll(/<([^<>\s]+)>/g)].map((m) => m[1]!);
  if (bracketed.length > 0) return bracketed;
  return text
    .split(/\s+/)
    .map(bareMessageId)
    .filter((s): s is string => s !== undefined);
}

/** The Message-ID of a thread's first mail: the root of the `References`/`In-Reply-To` chain, else the mail's own. */
export function threadRoot(m: { messageId?: string; inReplyTo?: string | readonly string[]; references?: string | readonly string[] }): string | undefined {
  return messageIds(m.references)[0] ?? messageIds(m.inReplyTo)[0] ?? bareMessageId(m.messageId);
}

/** How Claw's own Message-IDs start: `<chat>.<hash>.claw@<domain>` (the chat kept, for clients that only send `In-Reply-To`). */
const OWN_ID = /^([0-9a-f]{32})\.[0-9a-f]+\.claw@/;

/**
 * A thread's chat: the hex SHA-256 of its root Message-ID, 32 characters — a
 * subject token as it is (Message-IDs hold `.`, `@`, `$`, and may be long).
 * A root that is one of Claw's own replies (the sender's client kept only
 * `In-Reply-To`) is that reply's chat.
 */
export function threadChat(rootMessageId: string): string {
  const own = OWN_ID.exec(rootMessageId);
  if (own) return own[1]!;
  return createHash("sha256").update(rootMessageId).digest("hex").slice(0, 32);
}

/** `Re: <subject>`, without a second `Re:` (nor after a client's `RE:`/`Re[2]:`). */
export function replySubject(subject: string | undefined): string {
  const s = (subject ?? "").trim();
  if (/^re(\[\d+\])?\s*:/i.test(s)) return s;
  return s === "" ? "Re:" : `Re: ${s}`;
}

/** The `References` of a reply to a mail: the mail's own, then the mail itself (the root kept, the middle trimmed). */
export function replyReferences(references: readonly string[], messageId: string | undefined): string[] {
  const all = messageId ? [...references.filter((r) => r !== messageId), messageId] : [...references];
  if (all.length <= MAX_REFERENCES) return all;
  return [all[0]!, ...all.slice(all.length - MAX_REFERENCES + 1)];
}

/**
 * The Message-ID of Claw's reply: the same for the same reply (sent again
 * after a 4xx, it is one mail to the receiver), and carrying its chat.
 */
export function replyMessageId(chat: string, replyId: string, from: string): string {
  const domain = /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? "claw.invalid";
  const hash = createHash("sha256").update(replyId).digest("hex").slice(0, 24);
  return `${/^[0-9a-f]{32}$/.test(chat) ? chat : createHash("sha256").update(chat).digest("hex").slice(0, 32)}.${hash}.claw@${domain}`;
}
