/**
 * The agent's replies as mails, through nodemailer's SMTP transport: to the
 * sender of the mail answered (its `Reply-To` when it had one), from the
 * account's `from`, `Re: <subject>`, with `In-Reply-To` and `References`
 * so that it threads in the sender's client, and `Auto-Submitted:
 * auto-replied` so that other robots do not answer it back.
 *
 * What the server says decides what happens: a 5xx is a refusal for good
 * (the reply is dead-lettered with the server's words), a 4xx or an
 * unreachable server is tried again with backoff. The reply's Message-ID is
 * derived from its envelope id, so a reply sent again is the same mail.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5321#section-4.2.1 (reply codes), https://www.rfc-editor.org/rfc/rfc3834
 */
import { z } from "zod";
import { RefusedSendError, type OutboundReply } from "../types.js";
import { replyMessageId, replyReferences, replySubject } from "./thread.js";

/** The SMTP part of an email account's options. */
export interface SmtpOptions {
  host: string;
  port: number;
  secure: boolean;
  user?: string;
  password?: string;
}

/** What an inbound mail left for answering it (`metadata.native`), checked: it travels through the session. */
const RoutingSchema = z.object({
  to: z.array(z.email().max(320)).min(1).max(10),
  subject: z.string().max(998),
  messageId: z.string().max(998).optional(),
  references: z.array(z.string().max(998)).max(20).default([]),
});

/** An SMTP error as nodemailer reports it. */
interface SmtpError {
  code?: string;
  response?: string;
  responseCode?: number;
  message: string;
}

/** A nodemailer failure as the runner understands it: refused for good (5xx), or (as it is) worth trying again. */
export function classifySmtpError(e: unknown): Error {
  const err = e as SmtpError;
  const code = err.responseCode;
  // a 5xx to the login is the account's configuration, not this reply's fault: tried again (and seen in the logs)
  if (typeof code === "number" && code >= 500 && code < 600 && err.code !== "EAUTH") {
    return new RefusedSendError(`the SMTP server refused the reply: ${err.response ?? err.message}`, "refused", { cause: e });
  }
  if (typeof code === "number" && code >= 400 && code < 500)
    return new Error(`the SMTP server deferred the reply: ${err.response ?? err.message}`, { cause: e });
  return e instanceof Error ? e : new Error(String(e));
}

/** Sends replies by SMTP. */
export interface SmtpSender {
  send(reply: OutboundReply): Promise<void>;
  close(): void;
}

/** A sender of an account's replies (no connection until the first reply: each reply is one SMTP session). */
export async function createSmtpSender(o: SmtpOptions, from: string): Promise<SmtpSender> {
  const nodemailer = await import("nodemailer");
  const transport = nodemailer.createTransport({
    host: o.host,
    port: o.port,
    secure: o.secure,
    ...(o.user !== undefined ? { auth: { user: o.user, pass: o.password ?? "" } } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
    // a reply's content never makes nodemailer read a file or fetch a URL
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return {
    async send({ envelope, routing }) {
      const r = RoutingSchema.safeParse(routing ?? {});
      if (!r.success) {
        const issue = r.error.issues[0];
        const why = issue ? ` (${issue.path.join(".") || "routing"}: ${issue.message})` : "";
        throw new RefusedSendError(`the reply answers no mail Claw can address: metadata.native has no valid \`to\` and \`subject\`${why}`, "no_recipient");
      }
      const text = envelope.text ?? "";
      if (text === "") throw new RefusedSendError("the reply has no text", "empty");
      const to = r.data;
      const references = replyReferences(to.references, to.messageId);
      try {
        await transport.sendMail({
          from,
          to: to.to,
          subject: replySubject(to.subject),
          text,
          messageId: `<${replyMessageId(envelope.chat, envelope.id, from)}>`,
          ...(to.messageId ? { inReplyTo: `<${to.messageId}>` } : {}),
          ...(references.length > 0 ? { references: references.map((id) => `<${id}>`) } : {}),
          headers: { "Auto-Submitted": "auto-replied" },
        });
      } catch (e) {
        throw classifySmtpError(e);
      }
    },
    close: () => transport.close(),
  };
}
