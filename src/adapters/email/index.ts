/**
 * Email: a mailbox read over IMAP (imapflow, IDLE) and answered over SMTP
 * (nodemailer), mails read with mailparser. A thread is a chat: every mail
 * of it — the first, and each answer to an answer — lands in one session.
 *
 * - In: each new mail becomes a message on `claw.in.email.<account>.<chat>`,
 *   the chat being the thread's root Message-ID hashed (thread.ts); its
 *   text from `text/plain`, else from the HTML; attachments as `media`
 *   (name, mime, size; their content is not carried). Taken once
 *   (imap-inbox.ts): marked `\Seen` or moved only once Claw holds it, its
 *   Message-ID the message id, the last UID kept in KV.
 * - Not answered (inbound-mail.ts): auto-replies, bulk and list mail,
 *   bounces and robots, Claw's own `from`, and senders `allowFrom` does not name.
 * - Out (smtp-sender.ts): to the sender (or `Reply-To`), from `from`,
 *   `Re: <subject>`, threaded; a 5xx dead-lettered with the server's reply,
 *   a 4xx tried again with backoff. Media go as links in the text.
 */
import { z } from "zod";
import { defineAdapter } from "../define-adapter.js";
import type { AdapterHost, ChannelConnection } from "../types.js";
import { addressOf, globMatcher } from "./inbound-mail.js";
import { openInbox } from "./imap-inbox.js";
import { createSmtpSender } from "./smtp-sender.js";

const host = z.string().min(1).max(255);
const port = z.number().int().min(1).max(65_535);

export const EmailOptionsSchema = z
  .object({
    type: z.literal("email"),
    account: z.string().min(1).max(128),
    imap: z
      .object({
        host,
        port,
        /** TLS from the start (993); false: plain, upgraded by STARTTLS when the server offers it */
        secure: z.boolean(),
        /** the login (`userEnv`: the variable that holds it) */
        user: z.string().min(1).max(320),
        /** `passwordEnv`: the variable that holds it */
        password: z.string().min(1),
        mailbox: z.string().min(1).max(255).default("INBOX"),
        /** a folder each mail taken is moved to, instead of being marked `\Seen` (created if missing) */
        moveTo: z.string().min(1).max(255).optional(),
      })
      .strict(),
    smtp: z
      .object({
        host,
        port,
        /** TLS from the start (465); false: plain, upgraded by STARTTLS when the server offers it */
        secure: z.boolean(),
        user: z.string().min(1).max(320).optional(),
        password: z.string().min(1).optional(),
      })
      .strict()
      .refine((s) => (s.user === undefined) === (s.password === undefined), {
        message: "user and passwordEnv go together (or neither, for a server that takes mail without a login)",
        path: ["password"],
      }),
    /** the replies' sender, `Name <address>`; mail from this address is never answered */
    from: z
      .string()
      .min(3)
      .max(320)
      .refine((f) => z.email().safeParse(addressOf(f)).success, "must be an address, or `Name <address>`"),
    /** senders answered (globs, `*@example.com`); absent: everyone */
    allowFrom: z.array(z.string().min(1).max(320)).max(1_000).optional(),
  })
  .strict();

export type EmailOptions = z.infer<typeof EmailOptionsSchema>;

async function connect(o: EmailOptions, h: AdapterHost): Promise<ChannelConnection> {
  const sender = await createSmtpSender(o.smtp, o.from);
  const inbox = await openInbox(o.imap, h, { ownAddress: addressOf(o.from), allowFrom: o.allowFrom?.map(globMatcher) });
  return {
    lost: inbox.lost,
    send: (reply) => sender.send(reply),
    async close() {
      await inbox.close();
      sender.close();
    },
  };
}

/** The email channel type. */
export const emailAdapter = defineAdapter({
  type: "email",
  options: EmailOptionsSchema,
  // a reply's media go as links in its text: the node fetches nothing to attach
  capabilities: { threads: true, edits: false, media: [] },
  connect: (o, h) => connect(o, h),
});
