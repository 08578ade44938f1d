/**
 * An account's mailbox over IMAP (imapflow), each mail taken once: the new
 * mails are read in UID order, each handed to Claw and — only once
 * `claw.in` holds it — marked `\Seen` (or moved to `moveTo`), then the
 * account's last UID is written to KV (`claw_channels`). The next connection,
 * here or on the node that takes the account over, reads on from that UID:
 * a mail is missed by no restart (even one a person opened meanwhile) and
 * answered twice by none (one handed over again after a crash before its
 * UID was written has the same Message-ID, which `claw.in` absorbs).
 * New mail is noticed by IDLE (imapflow starts it once the connection is
 * quiet), with a sweep every minute as well.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9051 (IMAP4rev2), https://www.rfc-editor.org/rfc/rfc2177 (IDLE)
 */
import type { ImapFlow } from "imapflow";
import type { AdapterHost } from "../types.js";
import { decideMail, type MailAddress, type ReadMail } from "./inbound-mail.js";

/** The largest part of a mail read (bytes): text and attachments' names and sizes come from it; the rest is not read. */
const MAX_SOURCE = 10 * 1024 * 1024;
/** How quiet the connection is before IDLE starts (imapflow's default is 15 s: a new mail would wait that long). */
const AUTO_IDLE_MS = 1_000;
/** IDLE restarted this often (servers end an IDLE after 30 minutes). */
const MAX_IDLE_MS = 5 * 60_000;
/** A sweep for new mail even without an IDLE notice. */
const SWEEP_MS = 60_000;
/** The KV name of the account's place in its mailbox. */
const STATE = "imap";

/** The IMAP part of an email account's options. */
export interface InboxOptions {
  host: string;
  port: number;
  secure: boolean;
  user: string;
  password: string;
  mailbox: string;
  moveTo?: string;
}

/** Where the account is in its mailbox: the last UID taken, valid while the mailbox's UIDVALIDITY is the same. */
interface Place {
  uidValidity: string;
  lastUid: number;
}

function readPlace(s: string | undefined): Place | undefined {
  if (!s) return undefined;
  try {
    const p = JSON.parse(s) as Partial<Place>;
    return typeof p.uidValidity === "string" && Number.isSafeInteger(p.lastUid) ? { uidValidity: p.uidValidity, lastUid: p.lastUid! } : undefined;
  } catch {
    return undefined;
  }
}

/** A running inbox. */
export interface Inbox {
  /** settles when the IMAP connection is lost, or taking a mail failed (NATS away too long); never after {@link close} */
  readonly lost: Promise<Error>;
  close(): Promise<void>;
}

const addresses = (a: { value: MailAddress[] } | Array<{ value: MailAddress[] }> | undefined): MailAddress[] =>
  a === undefined ? [] : (Array.isArray(a) ? a : [a]).flatMap((x) => x.value);

/** A mail mailparser could not read: left in the mailbox, unmarked, for a person. */
class UnreadableMailError extends Error {
  override name = "UnreadableMailError";
}

/** Reads one mail by UID; false when it is gone (expunged meanwhile). */
async function readMail(client: ImapFlow, uid: number, uidValidity: string): Promise<ReadMail | false> {
  const msg = await client.fetchOne(String(uid), { uid: true, source: { maxLength: MAX_SOURCE } }, { uid: true });
  if (!msg || !msg.source) return false;
  const { simpleParser } = await import("mailparser");
  let p: Awaited<ReturnType<typeof simpleParser>>;
  try {
    p = await simpleParser(msg.source, { skipImageLinks: true, skipTextToHtml: true });
  } catch (e) {
    // a mail that cannot be read must not hold up the ones after it (the connection would be lost on it again and again)
    throw new UnreadableMailError(`the mail cannot be read: ${(e as Error).message}`, { cause: e });
  }
  return {
    uid,
    uidValidity,
    messageId: p.messageId,
    inReplyTo: p.inReplyTo,
    references: p.references,
    subject: p.subject,
    from: addresses(p.from),
    replyTo: addresses(p.replyTo),
    to: addresses(p.to),
    date: p.date,
    headers: p.headers,
    text: p.text,
    html: p.html,
    attachments: p.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, size: a.size })),
  };
}

/** An imapflow failure with what the server said ("Command failed" alone says little). */
function imapError(e: unknown): Error {
  const err = e as { message?: string; responseText?: string; authenticationFailed?: boolean };
  if (err.authenticationFailed) return new Error(`IMAP: the login was refused${err.responseText ? `: ${err.responseText}` : ""}`, { cause: e });
  return new Error(`IMAP: ${err.message ?? String(e)}${err.responseText ? `: ${err.responseText}` : ""}`, { cause: e });
}

/** A connection with the mailbox open, and where the mailbox is. */
interface OpenMailbox {
  client: ImapFlow;
  uidValidity: string;
  uidNext: number;
  /** settles when the connection closes while `closing()` is false */
  lost: Promise<Error>;
}

/** Connects, logs in and opens the mailbox (creating `moveTo` if missing); rejects with what the server said. */
async function openMailbox(o: InboxOptions, closing: () => boolean): Promise<OpenMailbox> {
  const { ImapFlow } = await import("imapflow");
  const client = new ImapFlow({
    host: o.host,
    port: o.port,
    secure: o.secure,
    auth: { user: o.user, pass: o.password },
    logger: false,
    autoIdleDelay: AUTO_IDLE_MS,
    maxIdleTime: MAX_IDLE_MS,
    connectionTimeout: 15_000,
    greetingTimeout: 10_000,
  });
  let failed = false;
  let lose!: (e: Error) => void;
  const lost = new Promise<Error>((r) => (lose = r));
  let lastError: Error | undefined;
  client.on("error", (e: Error) => (lastError = e));
  client.on("close", () => {
    if (!closing() && !failed) lose(new Error(`the IMAP connection closed${lastError ? `: ${lastError.message}` : ""}`));
  });
  try {
    await client.connect();
    const box = await client.mailboxOpen(o.mailbox);
    if (o.moveTo) await client.mailboxCreate(o.moveTo).catch(() => undefined); // there already, most often
    return { client, uidValidity: String(box.uidValidity), uidNext: box.uidNext, lost };
  } catch (e) {
    failed = true;
    client.close();
    throw imapError(e);
  }
}

/** Connects to the mailbox and takes its new mails until closed or lost. */
export async function openInbox(o: InboxOptions, host: AdapterHost, decide: { ownAddress: string; allowFrom?: readonly RegExp[] }): Promise<Inbox> {
  let closing = false;
  const { client, uidValidity, uidNext, lost: closed } = await openMailbox(o, () => closing);
  let lose!: (e: Error) => void;
  const lost = new Promise<Error>((r) => (lose = r));
  void closed.then((e) => lose(e));
  const keep = (lastUid: number) => host.state.put(STATE, JSON.stringify({ uidValidity, lastUid } satisfies Place));

  /** The UIDs to take, in order: after the last one taken; with no place kept (or the mailbox recreated), the unseen ones. */
  async function newUids(place: Place | undefined): Promise<number[]> {
    const found = place ? await client.search({ uid: `${place.lastUid + 1}:*` }, { uid: true }) : await client.search({ seen: false }, { uid: true });
    // `n:*` also names the highest UID when it is below n (RFC 9051 §6.4.4)
    return (found || []).filter((u) => !place || u > place.lastUid).sort((a, b) => a - b);
  }

  /** Takes one mail: handed over, then marked (or moved); one that is not answered is left as it is. */
  async function take(uid: number): Promise<void> {
    const mail = await readMail(client, uid, uidValidity).catch((e: unknown) => {
      if (!(e instanceof UnreadableMailError)) throw e;
      host.log.warn({ uid, err: e.message }, "email.unreadable");
      return false as const;
    });
    const d = mail ? decideMail(mail, decide) : undefined;
    if (d?.action === "take") {
      await host.receive(d.native);
      if (o.moveTo) await client.messageMove(String(uid), o.moveTo, { uid: true });
      else await client.messageFlagsAdd(String(uid), ["\\Seen"], { uid: true });
    } else if (d) host.log.info({ uid, why: d.why }, "email.not_answered");
  }

  /** Takes the new mails one by one, each marked and its UID kept only once Claw holds it. */
  async function takeNew(): Promise<void> {
    const kept = readPlace(await host.state.get(STATE));
    const place = kept?.uidValidity === uidValidity ? kept : undefined;
    let last = place?.lastUid ?? uidNext - 1;
    for (const uid of await newUids(place)) {
      if (closing) return;
      await take(uid);
      last = Math.max(last, uid);
      // a first start keeps its place only once every unseen mail is taken: stopped before, it looks for them again
      // (those it took are \Seen, or moved, by then)
      if (place) await keep(last);
    }
    if (!place) await keep(last);
  }

  let wake = () => {};
  client.on("exists", () => wake());
  const run = (async () => {
    while (!closing) {
      const woken = new Promise<void>((r) => (wake = r));
      await takeNew();
      const sweep = new Promise<void>((r) => setTimeout(r, SWEEP_MS).unref());
      await Promise.race([woken, sweep]);
    }
  })().catch((e: unknown) => {
    if (!closing) lose(e as Error);
    client.close();
  });

  return {
    lost,
    async close() {
      closing = true;
      wake();
      // the mail being taken is finished (or given up by the host), then the connection ends
      await Promise.race([run, new Promise((r) => setTimeout(r, 5_000).unref())]);
      await Promise.race([client.logout(), new Promise((r) => setTimeout(r, 2_000).unref())]).catch(() => undefined);
      client.close();
    },
  };
}
