/**
 * A mail as Claw takes it, decided without I/O: answered (a native message
 * for the thread's chat) or left alone and why — an auto-reply, a bounce, a
 * mailing list, Claw's own mail, or a sender `allowFrom` does not name. The
 * IMAP side (imap-inbox.ts) performs what this decides.
 *
 * @see https://www.rfc-editor.org/rfc/rfc3834 (automatic responses: what not to answer)
 */
import type { MediaType, NativeMessage } from "../types.js";
import { bareMessageId, messageIds, threadChat, threadRoot } from "./thread.js";

/** The longest text taken from one mail (the rest is cut, and said so). */
const MAX_TEXT = 64_000;
/** The most attachments listed as media (the envelope's limit). */
const MAX_MEDIA = 32;

/** An address as mailparser gives it. */
export interface MailAddress {
  address?: string;
  name?: string;
}

/** What the inbox reads of one mail (mailparser's parse, and the IMAP UID). */
export interface ReadMail {
  uid: number;
  uidValidity: string;
  messageId?: string;
  inReplyTo?: string;
  references?: string | string[];
  subject?: string;
  from: MailAddress[];
  replyTo: MailAddress[];
  to: MailAddress[];
  date?: Date;
  /** header values by lowercase name (mailparser's `headers`) */
  headers: ReadonlyMap<string, unknown>;
  text?: string;
  html?: string | false;
  attachments: ReadonlyArray<{ filename?: string; contentType?: string; size?: number }>;
}

/** Why a mail is not answered. */
export type NotAnswered = "auto-submitted" | "bulk" | "mailer-daemon" | "own" | "not-allowed" | "no-sender";

/** What to do with a mail: hand it over, or leave it (unmarked) with the reason. */
export type MailDecision = { action: "take"; native: NativeMessage } | { action: "leave"; why: NotAnswered };

/** A glob (`*@example.com`, `ops-?@x.org`) as a case-insensitive whole-address match. */
export function globMatcher(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "i");
}

/** The address part of `Name <a@b>` (or the whole, trimmed), lowercase. */
export function addressOf(from: string): string {
  return (/<([^<>]+)>\s*$/.exec(from)?.[1] ?? from).trim().toLowerCase();
}

const header = (h: ReadonlyMap<string, unknown>, name: string): string | undefined => {
  const v = h.get(name);
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "object" && "value" in v && typeof (v as { value: unknown }).value === "string") return (v as { value: string }).value;
  return String(v);
};

/** Local parts of senders that never get an answer (RFC 3834 §2: bounces and list robots). */
const ROBOT = /^(mailer-daemon|postmaster|listserv|majordomo|no-?reply|do-?not-?reply|owner-.*|.*-request|bounces?(\+.*)?)$/i;

/** Why a mail must not be answered (a loop, a list, a robot), or undefined. */
export function whyNotAnswer(m: ReadMail, ownAddress: string, allowFrom?: readonly RegExp[]): NotAnswered | undefined {
  const sender = m.from[0]?.address?.toLowerCase();
  if (!sender) return "no-sender";
  if (sender === ownAddress) return "own";
  const auto = header(m.headers, "auto-submitted");
  if (auto !== undefined && auto.trim().toLowerCase().split(";")[0] !== "no") return "auto-submitted";
  if (m.headers.has("x-autoreply") || m.headers.has("x-autorespond")) return "auto-submitted";
  const precedence = header(m.headers, "precedence")?.trim().toLowerCase();
  if (precedence === "bulk" || precedence === "junk" || precedence === "list") return "bulk";
  // a mailing list's mail (mailparser gathers the List-* headers under `list`)
  if (m.headers.has("list") || m.headers.has("list-id")) return "bulk";
  if (ROBOT.test(sender.split("@")[0]!)) return "mailer-daemon";
  // a bounce has an empty envelope sender (`Return-Path: <>`)
  const returnPath = header(m.headers, "return-path");
  if (returnPath !== undefined && /^\s*<?\s*>?\s*$/.test(returnPath)) return "mailer-daemon";
  if (allowFrom && !allowFrom.some((g) => g.test(sender))) return "not-allowed";
  return undefined;
}

function mediaType(mime: string | undefined): MediaType {
  const top = mime?.split("/")[0]?.toLowerCase();
  return top === "image" || top === "audio" || top === "video" ? top : "file";
}

/** The text of a mail: its `text/plain` (or, with none, mailparser's text of the HTML), cut at {@link MAX_TEXT}. */
function textOf(m: ReadMail): string {
  const text = (m.text ?? "").trim();
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}\n[… the rest of the mail was cut]` : text;
}

/** Where a reply to the mail goes: `Reply-To` when set, else the sender. */
function replyAddresses(m: ReadMail): string[] {
  const to = (m.replyTo.length > 0 ? m.replyTo : m.from).map((a) => a.address).filter((a): a is string => !!a);
  return [...new Set(to)].slice(0, 10);
}

/** Decides what a read mail becomes. */
export function decideMail(m: ReadMail, o: { ownAddress: string; allowFrom?: readonly RegExp[] }): MailDecision {
  const why = whyNotAnswer(m, o.ownAddress, o.allowFrom);
  if (why) return { action: "leave", why };
  const own = bareMessageId(m.messageId);
  // without a Message-ID the mail is its own thread, named by its place in the mailbox
  const id = own ?? `uid-${m.uidValidity}-${m.uid}`;
  const root = threadRoot(m) ?? id;
  const chat = threadChat(root);
  const media = m.attachments.slice(0, MAX_MEDIA).map((a) => ({
    type: mediaType(a.contentType),
    ...(a.filename ? { name: a.filename.slice(0, 1024) } : {}),
    ...(a.contentType ? { mime: a.contentType.slice(0, 256) } : {}),
    ...(a.size !== undefined ? { size: a.size } : {}),
  }));
  const sender = m.from[0]!;
  const references = messageIds(m.references).filter((r) => r.length <= 998);
  // a header line's limit (RFC 5322 §2.1.1): the reply's subject is built from it
  const subject = (m.subject ?? "").slice(0, 990);
  const payload = {
    text: textOf(m),
    sender: { id: sender.address!.toLowerCase(), ...(sender.name ? { name: sender.name } : {}) },
    ...(media.length > 0 ? { media } : {}),
  };
  return {
    action: "take",
    native: {
      chat,
      data: new TextEncoder().encode(JSON.stringify(payload)),
      id,
      metadata: {
        uid: m.uid,
        uidValidity: m.uidValidity,
        messageId: id,
        thread: root,
        subject,
        from: sender.address,
        ...(m.date && !Number.isNaN(m.date.getTime()) ? { date: m.date.toISOString() } : {}),
        ...(m.attachments.length > MAX_MEDIA ? { attachments: m.attachments.length } : {}),
      },
      routing: {
        to: replyAddresses(m),
        subject,
        ...(own ? { messageId: own } : {}),
        references: references.slice(0, 1).concat(references.slice(1).slice(-19)),
      },
    },
  };
}
