/**
 * The email channel against real mail servers: Dovecot for IMAP (its own
 * instance per file, a Maildir per account) and an SMTP server (the
 * `smtp-server` package) that takes the replies and refuses some when told.
 * A mail is answered in its thread and a reply to that answer continues the
 * session; a node killed and started again answers nothing twice and misses
 * nothing; an HTML-only mail is read as text and attachments listed as
 * media; auto-replies, lists, bounces and the account's own mail are not
 * answered; an SMTP 5xx is dead-lettered with the server's words and a 4xx
 * tried again until the server takes the reply; a reply an outside system
 * publishes goes to the address it names, its media as links.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { decode, parseEnvelope, wildcards, type Envelope } from "../../src/bus/index.js";
import { skipWithout } from "../support/ci.js";
import { channelConfig, publishReply, untilRepliesAcked } from "../support/channels.js";
import { runCli } from "../support/claw-cli.js";
import { startClaw } from "../support/claw-node.js";
import { waitForDeadLetters } from "../support/dead-letters.js";
import { startFakeOpenAI, type FakeRequest } from "../support/fake-openai.js";
import { dovecotMissing, mail, startDovecot, startSmtpSink, type Dovecot, type SmtpSink } from "../support/mail-servers.js";
import { metric } from "../support/metrics.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { until } from "../support/until.js";

const PASSWORD = "imap-secret-7";

/** Waits for an async condition. */
async function eventually(cond: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await cond()); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

/** A header mailparser may give as a string or a list, as a list. */
const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : v.split(/\s+/));

describe.skipIf(skipWithout("the email channel's tests", dovecotMissing()))("the email channel", () => {
  let nats: NatsServerProcess;
  let dovecot: Dovecot;
  let sink: SmtpSink;
  beforeAll(async () => {
    [nats, dovecot, sink] = await Promise.all([natsServer(), startDovecot(), startSmtpSink()]);
  }, 30_000);
  afterAll(async () => {
    await Promise.all([nats?.[Symbol.asyncDispose](), dovecot?.[Symbol.asyncDispose](), sink?.[Symbol.asyncDispose]()]);
  });

  /** An account on its own IMAP user (created here), answering from `<name>@claw.test`. */
  const account = async (name: string, more: { imap?: Record<string, unknown>; allowFrom?: string[] } = {}) => {
    await dovecot.addUser(name, PASSWORD);
    return {
      type: "email",
      account: name,
      imap: { host: "127.0.0.1", port: dovecot.port, secure: false, user: name, passwordEnv: "IMAP_PASSWORD", ...more.imap },
      smtp: { host: "127.0.0.1", port: sink.port, secure: false },
      from: `Support Desk <${name}@claw.test>`,
      ...(more.allowFrom ? { allowFrom: more.allowFrom } : {}),
    };
  };
  const env = (config: string, node: string, more: Record<string, string> = {}) => ({
    NATS_URL: nats.url,
    CLAW_CONFIG: config,
    IMAP_PASSWORD: PASSWORD,
    CLAW_NODE_ID: node,
    ...more,
  });
  const subjects = (to: string) => sink.to(to).map((m) => m.mail.subject);

  it("answers a mail in its thread from `from`, continues the session when the answer is answered, and marks what it took", async () => {
    await using model = await startFakeOpenAI();
    // the answer says how many user turns the session holds: one session per thread
    model.answer = (req: FakeRequest) => {
      const users = req.messages.filter((m) => m.role === "user");
      return { text: `turn ${users.length}: ${users.at(-1)?.content ?? ""}` };
    };
    const config = await channelConfig([await account("desk")], {
      providers: { fake: { baseURL: model.baseURL, model: "fake-instant" } },
      agents: [{ id: "assistant", model: "fake", system: "You answer mail." }],
      defaultAgent: "assistant",
    });
    await using node = await startClaw({ env: env(config, "e1") });
    await dovecot.deliver(
      "desk",
      mail(
        { From: "Alice <alice@example.com>", To: "desk@claw.test", Subject: "Printer on fire", "Message-ID": "<m1.alice@example.com>" },
        "The printer on floor 2 is on fire.",
      ),
    );
    await until(() => sink.to("alice@example.com").length === 1, "the answer", 30_000);
    const first = sink.to("alice@example.com")[0]!.mail;
    expect(first.from?.value[0]).toMatchObject({ address: "desk@claw.test", name: "Support Desk" });
    expect(first.subject).toBe("Re: Printer on fire");
    expect(first.inReplyTo).toBe("<m1.alice@example.com>");
    expect(list(first.references)).toEqual(["<m1.alice@example.com>"]);
    expect(first.text?.trim()).toBe("turn 1: The printer on floor 2 is on fire.");
    expect(first.headers.get("auto-submitted")).toBe("auto-replied");
    // taken: marked \Seen once Claw held it
    await eventually(async () => (await dovecot.mails("desk")).every((m) => m.flags.includes("S")), "the mail marked seen");

    // Alice answers the answer, her client threading it: the same session (turn 2), `Re:` once
    await dovecot.deliver(
      "desk",
      mail(
        {
          From: "Alice <alice@example.com>",
          To: "desk@claw.test",
          Subject: "Re: Printer on fire",
          "Message-ID": "<m2.alice@example.com>",
          "In-Reply-To": first.messageId!,
          References: `<m1.alice@example.com> ${first.messageId!}`,
        },
        "It is out now. Thanks!\n\n> turn 1: The printer on floor 2 is on fire.",
      ),
    );
    await until(() => sink.to("alice@example.com").length === 2, "the second answer", 30_000);
    const second = sink.to("alice@example.com")[1]!.mail;
    expect(second.subject).toBe("Re: Printer on fire");
    expect(second.text).toMatch(/^turn 2: It is out now/);
    expect(second.inReplyTo).toBe("<m2.alice@example.com>");
    expect(list(second.references)).toEqual(["<m1.alice@example.com>", first.messageId, "<m2.alice@example.com>"]);

    // a client that keeps only In-Reply-To (no References) still lands in the thread
    await dovecot.deliver(
      "desk",
      mail(
        {
          From: "alice@example.com",
          To: "desk@claw.test",
          Subject: "RE: Printer on fire",
          "Message-ID": "<m3.alice@example.com>",
          "In-Reply-To": second.messageId!,
        },
        "One more thing.",
      ),
    );
    await until(() => sink.to("alice@example.com").length === 3, "the third answer", 30_000);
    expect(sink.to("alice@example.com")[2]!.mail.text).toMatch(/^turn 3: One more thing/);
    expect(sink.to("alice@example.com")[2]!.mail.subject).toBe("RE: Printer on fire");

    // a new thread is a new session, answered to its Reply-To
    await dovecot.deliver(
      "desk",
      mail(
        { From: "Bob <bob@example.com>", "Reply-To": "Ops Team <team@example.com>", To: "desk@claw.test", Subject: "VPN", "Message-ID": "<b1@example.com>" },
        "The VPN is down.",
      ),
    );
    await until(() => sink.to("team@example.com").length === 1, "the answer to the Reply-To", 30_000);
    expect(sink.to("team@example.com")[0]!.mail.text).toMatch(/^turn 1: The VPN is down/);
    expect(sink.to("bob@example.com")).toEqual([]);

    // like every channel: listed with what it can do, counted, and shown by `claw channels`
    const listed = (await (await fetch(`http://127.0.0.1:${node.httpPort}/v1/channels`)).json()) as { channels: unknown[] };
    expect(listed.channels).toContainEqual(
      expect.objectContaining({ type: "email", account: "desk", state: "connected", capabilities: { threads: true, edits: false, media: [] } }),
    );
    expect(await metric(node.httpPort, 'claw_channel_messages_total{channel="email",direction="in"}')).toBe(4);
    await eventually(async () => (await metric(node.httpPort, 'claw_channel_messages_total{channel="email",direction="out"}')) === 4, "four sent");
    const cli = await runCli(["channels"], { NATS_URL: nats.url });
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/email\s+desk\s+connected\s+e1\b/);
    // the password is never logged
    expect(node.output()).not.toContain(PASSWORD);
  }, 90_000);

  it("takes the unseen mails on a first start, answers nothing twice across a SIGKILL, and once what came while no node ran (even a mail opened meanwhile)", async () => {
    const config = await channelConfig([await account("restart")]);
    const carol = (n: number, o?: { seen?: boolean }) =>
      dovecot.deliver(
        "restart",
        mail({ From: "carol@example.com", To: "restart@claw.test", Subject: `case ${n}`, "Message-ID": `<c${n}@example.com>` }, `question ${n}`),
        o,
      );
    // before the account's first start: one mail handled by a person already (\Seen) — not answered — and one not yet
    await carol(0, { seen: true });
    await carol(1);
    {
      await using a = await startClaw({ env: env(config, "ra") });
      void a;
      await carol(2);
      await until(() => sink.to("carol@example.com").length === 2, "two answers", 30_000);
      // a reply sent and not yet acked when its node dies is sent again by the next (at least once): what this test
      // holds is that no *mail* is taken twice
      await untilRepliesAcked(nats.url, "email", "restart");
      await a.kill("SIGKILL");
    }
    // while no node runs the account: one new mail, and one a person opened in the shared inbox (\Seen already)
    await carol(3);
    await carol(4, { seen: true });
    await using b = await startClaw({ env: env(config, "rb") });
    void b;
    await until(() => sink.to("carol@example.com").length >= 4, "the answers to what came meanwhile", 30_000);
    // a later mail still comes in (the new node is on IDLE), and nothing before it again
    await carol(5);
    await until(() => sink.to("carol@example.com").length >= 5, "the fifth answer", 30_000);
    await new Promise((r) => setTimeout(r, 2_000));
    // each mail is a thread of its own (a session of its own): what came meanwhile is answered side by side, in no set order
    expect(subjects("carol@example.com").sort()).toEqual(["Re: case 1", "Re: case 2", "Re: case 3", "Re: case 4", "Re: case 5"]);
  }, 90_000);

  it("reads an HTML-only mail as its text, lists attachments as media without their content, and moves what it took", async () => {
    const config = await channelConfig([await account("files", { imap: { moveTo: "Answered" } })]);
    const nc = await connect({ servers: nats.url });
    const seen: Envelope[] = [];
    nc.subscribe(wildcards.partitionedInboundOfChannel("email"), {
      callback: (_e, m) => {
        try {
          seen.push(parseEnvelope(decode(m.data)));
        } catch (e) {
          console.error("not an envelope on claw.in", m.subject, e);
        }
      },
    });
    await nc.flush();
    try {
      await using node = await startClaw({ env: env(config, "f1") });
      void node;
      await dovecot.deliver(
        "files",
        mail(
          { From: "dan@example.com", To: "files@claw.test", Subject: "Numbers", "Message-ID": "<h1@example.com>", "Content-Type": "text/html; charset=utf-8" },
          "<html><body><p>Quarterly <b>numbers</b> are in.</p><p>See&nbsp;you</p></body></html>",
        ),
      );
      const pdf = Buffer.alloc(1_234, 7);
      const png = Buffer.from("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489", "hex");
      await dovecot.deliver(
        "files",
        mail(
          {
            From: "Dan <dan@example.com>",
            To: "files@claw.test",
            Subject: "Invoice",
            "Message-ID": "<a1@example.com>",
            "MIME-Version": "1.0",
            "Content-Type": 'multipart/mixed; boundary="XYZ"',
          },
          [
            "--XYZ",
            "Content-Type: text/plain; charset=utf-8",
            "",
            "The invoice and a photo.",
            "--XYZ",
            'Content-Type: application/pdf; name="invoice.pdf"',
            'Content-Disposition: attachment; filename="invoice.pdf"',
            "Content-Transfer-Encoding: base64",
            "",
            pdf.toString("base64"),
            "--XYZ",
            "Content-Type: image/png",
            'Content-Disposition: attachment; filename="photo.png"',
            "Content-Transfer-Encoding: base64",
            "",
            png.toString("base64"),
            "--XYZ--",
            "",
          ].join("\r\n"),
        ),
      );
      await until(() => sink.to("dan@example.com").length === 2, "two answers", 30_000);
      await until(() => seen.length === 2, "both messages seen on claw.in");
      const html = seen.find((e) => e.metadata.email && (e.metadata.email as { subject: string }).subject === "Numbers")!;
      expect(html.text).toMatch(/^Quarterly numbers are in\.\s+See\s+you$/);
      expect(html.text).not.toContain("<");
      expect(html.sender).toEqual({ id: "dan@example.com" });
      const withFiles = seen.find((e) => (e.metadata.email as { subject: string }).subject === "Invoice")!;
      expect(withFiles.text).toBe("The invoice and a photo.");
      expect(withFiles.sender).toEqual({ id: "dan@example.com", name: "Dan" });
      expect(withFiles.media).toEqual([
        { type: "file", name: "invoice.pdf", mime: "application/pdf", size: 1_234 },
        { type: "image", name: "photo.png", mime: "image/png", size: png.length },
      ]);
      // the message id is the mail's Message-ID (a mail handed over again is absorbed)
      expect(withFiles.id).toBe("email:files:a1@example.com");
      // moved to the folder once taken: the inbox is empty
      await eventually(async () => (await dovecot.mails("files")).length === 0, "the inbox emptied");
      expect((await dovecot.mails("files", "Answered")).map((m) => /^Subject: (.*)$/m.exec(m.raw)?.[1])?.sort()).toEqual(["Invoice", "Numbers"]);
    } finally {
      await nc.close();
    }
  }, 60_000);

  it("does not answer auto-replies, bulk or list mail, bounces, its own mail, nor senders allowFrom leaves out", async () => {
    const config = await channelConfig([await account("loops", { allowFrom: ["*@example.com", "boss@partner.org"] })]);
    await using node = await startClaw({ env: env(config, "l1") });
    const to = "loops@claw.test";
    const skipped = [
      { From: "erin@example.com", "Auto-Submitted": "auto-replied", Subject: "Out of office: hello" },
      { From: "erin@example.com", Precedence: "bulk", Subject: "Newsletter" },
      { From: "erin@example.com", "List-Id": "<dev.lists.example.com>", Subject: "[dev] thread" },
      { From: "MAILER-DAEMON@example.com", Subject: "Undelivered Mail Returned to Sender" },
      { From: "Support Desk <loops@claw.test>", Subject: "Re: something" },
      { From: "stranger@elsewhere.org", Subject: "Hi" },
      // hostile or broken: no sender at all
      { Subject: "Who am I" },
    ];
    for (const [i, h] of skipped.entries()) await dovecot.deliver("loops", mail({ ...h, To: to, "Message-ID": `<skip${i}@example.com>` }, "text"));
    await dovecot.deliver("loops", mail({ From: "boss@partner.org", To: to, Subject: "Real question", "Message-ID": "<real@partner.org>" }, "Answer me"));
    await until(() => sink.to("boss@partner.org").length === 1, "the answer to the real mail", 30_000);
    const reasons = await node.waitForLogs((l) => l.msg === "email.not_answered" && l.account === "loops", skipped.length);
    expect(reasons.map((l) => l.why).sort()).toEqual(["auto-submitted", "bulk", "bulk", "mailer-daemon", "no-sender", "not-allowed", "own"]);
    await new Promise((r) => setTimeout(r, 1_000));
    const senders = new Set(["erin@example.com", "mailer-daemon@example.com", to, "stranger@elsewhere.org"]);
    expect(sink.mails.filter((m) => m.rcpt.some((r) => senders.has(r))).map((m) => m.mail.subject)).toEqual([]);
    // what was not answered is left unread, for a person
    const inbox = await dovecot.mails("loops");
    expect(inbox.filter((m) => !m.flags.includes("S"))).toHaveLength(skipped.length);
    expect(inbox.filter((m) => m.flags.includes("S")).map((m) => /^Subject: (.*)$/m.exec(m.raw)?.[1])).toEqual(["Real question"]);
  }, 60_000);

  it("dead-letters a reply the SMTP server refuses with a 5xx, with its words, tries a 4xx again until it is taken, and sends a published reply", async () => {
    const config = await channelConfig([await account("refusals")]);
    sink.refuse("gone@example.com", 550, "5.1.1 <gone@example.com>: Recipient address rejected: User unknown in local recipient table");
    sink.refuse("busy@example.com", 451, "4.3.2 Service busy, try again later", 2);
    await using node = await startClaw({ env: env(config, "s1", { CLAW_RETRY_BASE_MS: "200", CLAW_RETRY_MAX_MS: "1000" }) });
    void node;
    const to = "refusals@claw.test";
    await dovecot.deliver("refusals", mail({ From: "gone@example.com", To: to, Subject: "Hello", "Message-ID": "<g1@example.com>" }, "anyone?"));
    await dovecot.deliver("refusals", mail({ From: "busy@example.com", To: to, Subject: "Later", "Message-ID": "<q1@example.com>" }, "when you can"));
    await until(() => sink.to("busy@example.com").length === 1, "the reply the server took on the third try", 30_000);
    const busy = sink.attempts.filter((a) => a.to === "busy@example.com");
    expect(busy.map((a) => a.code)).toEqual([451, 451, 250]);
    // with backoff between the tries
    expect(busy[1]!.at - busy[0]!.at).toBeGreaterThanOrEqual(150);
    const nc = await connect({ servers: nats.url });
    try {
      const all = await waitForDeadLetters(await jetstreamManager(nc), (d) =>
        d.some((x) => x.stage === "out" && x.originalSubject.startsWith("claw.out.email.refusals.")),
      );
      const letter = all.find((x) => x.stage === "out" && x.originalSubject.startsWith("claw.out.email.refusals."))!;
      expect(letter.code).toBe("refused");
      expect(letter.reason).toContain("550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown");
    } finally {
      await nc.close();
    }
    // a reply an outside system publishes: with how to answer (metadata.native), sent, its media as links; without, refused
    await publishReply(nats.url, "email", "refusals", "outside-1", {
      text: "your report",
      media: [{ type: "file", url: "https://example.com/r.pdf", name: "r.pdf" }],
      metadata: { native: { to: ["frank@example.com"], subject: "Report" } },
    });
    await until(() => sink.to("frank@example.com").length === 1, "the published reply");
    const report = sink.to("frank@example.com")[0]!.mail;
    expect(report.subject).toBe("Re: Report");
    expect(report.text?.trim()).toBe("your report\nr.pdf: https://example.com/r.pdf");
    expect(report.attachments).toEqual([]);
    await publishReply(nats.url, "email", "refusals", "outside-2", { text: "to nobody" });
    const nc2 = await connect({ servers: nats.url });
    try {
      const all = await waitForDeadLetters(await jetstreamManager(nc2), (d) => d.some((x) => x.originalSubject === "claw.out.email.refusals.outside-2"));
      expect(all.find((x) => x.originalSubject === "claw.out.email.refusals.outside-2")).toMatchObject({ stage: "out", code: "no_recipient" });
    } finally {
      await nc2.close();
    }
    await new Promise((r) => setTimeout(r, 1_000));
    // refused for good: tried once
    expect(sink.attempts.filter((a) => a.to === "gone@example.com")).toHaveLength(1);
    expect(sink.to("busy@example.com")).toHaveLength(1);
  }, 60_000);
});
