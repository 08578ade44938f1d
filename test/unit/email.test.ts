/**
 * The email channel's decisions without I/O: a thread's chat, a reply's
 * subject and references, what is not answered, how an SMTP failure is
 * classified, and the account's options (nested `…Env` secrets).
 */
import { describe, expect, it } from "vitest";
import { parseChannels, RefusedSendError } from "../../src/adapters/index.js";
import { decideMail, globMatcher, whyNotAnswer, type ReadMail } from "../../src/adapters/email/inbound-mail.js";
import { classifySmtpError } from "../../src/adapters/email/smtp-sender.js";
import { replyMessageId, replyReferences, replySubject, threadChat, threadRoot } from "../../src/adapters/email/thread.js";
import { encodeToken } from "../../src/bus/index.js";

const read = (over: Partial<ReadMail> = {}): ReadMail => ({
  uid: 7,
  uidValidity: "1700",
  messageId: "<m1@example.com>",
  subject: "Help",
  from: [{ address: "Alice@Example.com", name: "Alice" }],
  replyTo: [],
  to: [{ address: "desk@claw.test" }],
  headers: new Map(),
  text: "the text",
  attachments: [],
  ...over,
});

describe("email threads", () => {
  it("names a thread by its root: the first of References, else In-Reply-To, else the mail's own Message-ID", () => {
    expect(threadRoot({ messageId: "<c@x>", inReplyTo: "<b@x>", references: ["<a@x>", "<b@x>"] })).toBe("a@x");
    expect(threadRoot({ messageId: "<c@x>", inReplyTo: "<b@x>" })).toBe("b@x");
    expect(threadRoot({ messageId: "<c@x>", references: "<a@x> <b@x>" })).toBe("a@x");
    expect(threadRoot({ messageId: " <c@x> " })).toBe("c@x");
    expect(threadRoot({})).toBeUndefined();
  });

  it("makes a subject-safe chat of any Message-ID, the same for the same root", () => {
    const hostile = "a.b*c>d e$f@ex.ample.com/" + "x".repeat(900);
    const chat = threadChat(hostile);
    expect(chat).toMatch(/^[0-9a-f]{32}$/);
    expect(encodeToken(chat)).toBe(chat);
    expect(threadChat(hostile)).toBe(chat);
    expect(threadChat("other@ex.ample.com")).not.toBe(chat);
  });

  it("keeps the chat in Claw's own Message-IDs, so a reply that only has In-Reply-To stays in the thread", () => {
    const chat = threadChat("root@example.com");
    const own = replyMessageId(chat, "reply-1", "Support <desk@claw.test>");
    expect(own).toMatch(/^[0-9a-f]{32}\.[0-9a-f]{24}\.claw@claw\.test$/);
    expect(threadChat(threadRoot({ messageId: "<n@x>", inReplyTo: `<${own}>` })!)).toBe(chat);
    // the same reply sent again is the same mail
    expect(replyMessageId(chat, "reply-1", "desk@claw.test")).toBe(own);
    expect(replyMessageId(chat, "reply-2", "desk@claw.test")).not.toBe(own);
  });

  it("answers `Re: <subject>` once, and references the mail after its own references, the root kept", () => {
    expect(replySubject("Printer")).toBe("Re: Printer");
    expect(replySubject("Re: Printer")).toBe("Re: Printer");
    expect(replySubject("RE: Printer")).toBe("RE: Printer");
    expect(replySubject("Re[2]: Printer")).toBe("Re[2]: Printer");
    expect(replySubject("Regarding printers")).toBe("Re: Regarding printers");
    expect(replySubject(undefined)).toBe("Re:");
    expect(replyReferences(["a@x", "b@x"], "c@x")).toEqual(["a@x", "b@x", "c@x"]);
    const many = Array.from({ length: 30 }, (_, i) => `r${i}@x`);
    const refs = replyReferences(many, "last@x");
    expect(refs).toHaveLength(20);
    expect(refs[0]).toBe("r0@x");
    expect(refs.at(-1)).toBe("last@x");
  });
});

describe("email: what is answered", () => {
  const own = "desk@claw.test";
  it("leaves auto-replies, bulk and list mail, bounces, robots and its own mail", () => {
    const why = (headers: Record<string, unknown>, from = "alice@example.com") =>
      whyNotAnswer(read({ headers: new Map(Object.entries(headers)), from: [{ address: from }] }), own);
    expect(why({ "auto-submitted": "auto-replied" })).toBe("auto-submitted");
    expect(why({ "auto-submitted": "auto-generated; type=x" })).toBe("auto-submitted");
    expect(why({ "auto-submitted": "no" })).toBeUndefined();
    expect(why({ "x-autoreply": "yes" })).toBe("auto-submitted");
    expect(why({ precedence: "bulk" })).toBe("bulk");
    expect(why({ precedence: "Junk" })).toBe("bulk");
    expect(why({ precedence: "list" })).toBe("bulk");
    expect(why({ list: { id: { name: "dev.example.com" } } })).toBe("bulk");
    expect(why({}, "MAILER-DAEMON@example.com")).toBe("mailer-daemon");
    expect(why({}, "postmaster@example.com")).toBe("mailer-daemon");
    expect(why({}, "noreply@example.com")).toBe("mailer-daemon");
    expect(why({ "return-path": "<>" })).toBe("mailer-daemon");
    expect(why({}, "Desk@Claw.test")).toBe("own");
    expect(whyNotAnswer(read({ from: [] }), own)).toBe("no-sender");
    expect(why({})).toBeUndefined();
  });

  it("answers only senders allowFrom names, by case-insensitive globs", () => {
    const allow = ["*@example.com", "boss@partner.org", "ops-?@x.org"].map(globMatcher);
    const why = (from: string) => whyNotAnswer(read({ from: [{ address: from }] }), own, allow);
    expect(why("alice@example.com")).toBeUndefined();
    expect(why("ALICE@EXAMPLE.COM")).toBeUndefined();
    expect(why("boss@partner.org")).toBeUndefined();
    expect(why("ops-1@x.org")).toBeUndefined();
    expect(why("ops-12@x.org")).toBe("not-allowed");
    expect(why("alice@example.com.evil.org")).toBe("not-allowed");
    expect(why("eve@partner.org")).toBe("not-allowed");
    // a dot in a glob is a dot, not any character
    expect(whyNotAnswer(read({ from: [{ address: "a@exampleXcom" }] }), own, [globMatcher("*@example.com")])).toBe("not-allowed");
  });

  it("hands a mail over with its thread's chat, its Message-ID as id, attachments as media, and how to answer it", () => {
    const d = decideMail(
      read({
        references: ["<root@example.com>", "<mid@example.com>"],
        inReplyTo: "<mid@example.com>",
        replyTo: [{ address: "team@example.com" }],
        attachments: [
          { filename: "a.pdf", contentType: "application/pdf", size: 10 },
          { contentType: "image/png", size: 3 },
        ],
      }),
      { ownAddress: own },
    );
    if (d.action !== "take") throw new Error(`left: ${d.why}`);
    expect(d.native.chat).toBe(threadChat("root@example.com"));
    expect(d.native.id).toBe("m1@example.com");
    expect(JSON.parse(new TextDecoder().decode(d.native.data))).toEqual({
      text: "the text",
      sender: { id: "alice@example.com", name: "Alice" },
      media: [
        { type: "file", name: "a.pdf", mime: "application/pdf", size: 10 },
        { type: "image", mime: "image/png", size: 3 },
      ],
    });
    expect(d.native.routing).toEqual({
      to: ["team@example.com"],
      subject: "Help",
      messageId: "m1@example.com",
      references: ["root@example.com", "mid@example.com"],
    });
    // without a Message-ID: its own thread, named by its place in the mailbox
    const lone = decideMail(read({ messageId: undefined }), { ownAddress: own });
    expect(lone.action === "take" && lone.native.id).toBe("uid-1700-7");
  });
});

describe("email: SMTP failures", () => {
  it("refuses a 5xx for good with the server's reply, and gives a 4xx or a lost connection back to be tried again", () => {
    const refused = classifySmtpError(Object.assign(new Error("x"), { code: "EENVELOPE", responseCode: 550, response: "550 5.1.1 User unknown" }));
    expect(refused).toBeInstanceOf(RefusedSendError);
    expect((refused as RefusedSendError).code).toBe("refused");
    expect(refused.message).toContain("550 5.1.1 User unknown");
    const deferred = classifySmtpError(Object.assign(new Error("x"), { code: "EENVELOPE", responseCode: 451, response: "451 4.3.2 busy" }));
    expect(deferred).not.toBeInstanceOf(RefusedSendError);
    expect(deferred.message).toContain("451 4.3.2 busy");
    // a refused login is the account's configuration: tried again, not the reply dead-lettered
    expect(classifySmtpError(Object.assign(new Error("x"), { code: "EAUTH", responseCode: 535 }))).not.toBeInstanceOf(RefusedSendError);
    expect(classifySmtpError(Object.assign(new Error("connect ECONNREFUSED"), { code: "ESOCKET" }))).not.toBeInstanceOf(RefusedSendError);
  });
});

describe("email options", () => {
  const entry = {
    type: "email",
    account: "support",
    imap: { host: "imap.example.com", port: 993, secure: true, userEnv: "IMAP_USER", passwordEnv: "IMAP_PASSWORD" },
    smtp: { host: "smtp.example.com", port: 465, secure: true, user: "support@example.com", passwordEnv: "SMTP_PASSWORD" },
    from: "Support <support@example.com>",
    allowFrom: ["*@example.com"],
  };
  const env = { IMAP_USER: "support@example.com", IMAP_PASSWORD: "i-secret", SMTP_PASSWORD: "s-secret" };

  it("reads the secrets of nested options from the environment, and defaults the mailbox to INBOX", () => {
    const [c] = parseChannels([entry], env);
    expect(c!.options).toMatchObject({
      imap: { user: "support@example.com", password: "i-secret", mailbox: "INBOX" },
      smtp: { user: "support@example.com", password: "s-secret" },
    });
  });

  it("names what is wrong: an unset variable, a bad from, a login without a password", () => {
    expect(() => parseChannels([entry], { ...env, IMAP_PASSWORD: "" })).toThrow(
      "channels[0].imap.passwordEnv: the environment variable IMAP_PASSWORD is not set",
    );
    expect(() => parseChannels([{ ...entry, from: "Support" }], env)).toThrow(/from/);
    expect(() => parseChannels([{ ...entry, smtp: { host: "s", port: 25, secure: false, user: "u" } }], env)).toThrow(/password/);
    expect(() => parseChannels([{ ...entry, imap: { ...entry.imap, port: 0 } }], env)).toThrow(/port/);
    expect(() => parseChannels([{ ...entry, extra: 1 }], env)).toThrow();
  });
});
