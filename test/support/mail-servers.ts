/**
 * Real mail servers for the email channel's tests, started per test file on
 * free ports with their state in a temp dir, and stopped after:
 *
 * - Dovecot (Debian `dovecot-imapd`) for IMAP: its own instance (`dovecot -F
 *   -c <conf>`, its own base_dir, state_dir and log, no TLS), users from a
 *   passwd file, each with a Maildir. Run as root, Dovecot will not open mail
 *   as uid 0: the mail belongs to `nobody`. A mail is delivered as an MDA
 *   does it: written to `Maildir/tmp/`, then renamed into `new/` (or `cur/`
 *   with flags: a mail someone already read).
 * - An SMTP sink for the replies: the `smtp-server` package (a real SMTP
 *   server implementation), which keeps each mail it took (parsed by
 *   mailparser) and can be told to refuse a recipient with a 4xx or 5xx.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, chmod, chown, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";
import { freePort } from "../../src/bus/index.js";

const DOVECOT = "/usr/sbin/dovecot";

/** Why Dovecot cannot run here, or undefined. */
export function dovecotMissing(): string | undefined {
  return existsSync(DOVECOT) && existsSync("/usr/lib/dovecot/imap") ? undefined : "Dovecot's IMAP server is not installed (apt-get install dovecot-imapd)";
}

/** A mail in a Maildir, and the IMAP flags Dovecot keeps in its file name (`S` seen, `T` deleted, …). */
export interface StoredMail {
  folder: string;
  file: string;
  flags: string;
  raw: string;
}

/** A Dovecot instance the test owns. */
export interface Dovecot extends AsyncDisposable {
  readonly port: number;
  /** adds a user with an empty Maildir */
  addUser(user: string, password: string): Promise<void>;
  /** delivers a mail to a user's INBOX (`seen`: as one a person has already opened) */
  deliver(user: string, raw: string, o?: { seen?: boolean }): Promise<void>;
  /** the mails of a user's folder (`INBOX`, or a folder's name) */
  mails(user: string, folder?: string): Promise<StoredMail[]>;
  output(): Promise<string>;
}

/** Starts Dovecot on a free port with no users yet. */
export async function startDovecot(): Promise<Dovecot> {
  const missing = dovecotMissing();
  if (missing) throw new Error(missing);
  const dir = await mkdtemp(join(tmpdir(), "claw-dovecot-"));
  const port = await freePort();
  const me = userInfo();
  // as root, processes and mail run as nobody (Dovecot refuses uid 0 for mail); otherwise as whoever runs the test
  const root = me.uid === 0;
  const [uid, gid, login] = root ? [65534, 65534, "nobody"] : [me.uid, me.gid, me.username];
  const passwd = join(dir, "passwd");
  // Dovecot's auth process (nobody) reads the passwd file in it
  await chmod(dir, 0o755);
  for (const d of ["base", "state", "mail"]) await mkdir(join(dir, d));
  await writeFile(passwd, "");
  if (root) await chown(join(dir, "mail"), uid, gid);
  const conf = join(dir, "dovecot.conf");
  await writeFile(
    conf,
    [
      `base_dir = ${dir}/base`,
      `state_dir = ${dir}/state`,
      `log_path = ${dir}/dovecot.log`,
      "protocols = imap",
      "listen = 127.0.0.1",
      "ssl = no",
      "disable_plaintext_auth = no",
      "auth_mechanisms = plain login",
      `default_login_user = ${login}`,
      `default_internal_user = ${login}`,
      `default_internal_group = ${root ? "nogroup" : me.username}`,
      `mail_location = maildir:${dir}/mail/%u/Maildir`,
      "first_valid_uid = 1",
      // a new mail is told to an IDLEing client within a second (the default waits up to 2 minutes between checks)
      "imap_idle_notify_interval = 1 secs",
      `passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u ${passwd}\n}`,
      `userdb {\n  driver = static\n  args = uid=${uid} gid=${gid} home=${dir}/mail/%u\n}`,
      `service imap-login {\n  chroot =\n  inet_listener imap {\n    address = 127.0.0.1\n    port = ${port}\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}`,
      "service anvil {\n  chroot =\n}",
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn(DOVECOT, ["-F", "-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  child.stdout!.on("data", (b: Buffer) => (text += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (text += b.toString()));
  const output = async () => text + (await readFile(join(dir, "dovecot.log"), "utf8").catch(() => ""));
  try {
    for (const deadline = Date.now() + 15_000; !(await portOpen(port)); await new Promise((r) => setTimeout(r, 50))) {
      if (child.exitCode !== null) throw new Error(`dovecot exited (${child.exitCode}):\n${await output()}`);
      if (Date.now() > deadline) throw new Error(`dovecot did not listen on ${port} within 15 s:\n${await output()}`);
    }
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }

  const maildir = (user: string) => join(dir, "mail", user, "Maildir");
  const own = async (path: string) => {
    if (root) await chown(path, uid, gid);
  };
  let counter = 0;
  return {
    port,
    output,
    async addUser(user, password) {
      for (const p of [join(dir, "mail", user), maildir(user), ...["cur", "new", "tmp"].map((d) => join(maildir(user), d))]) {
        await mkdir(p, { recursive: true });
        await own(p);
      }
      await appendFile(passwd, `${user}:{PLAIN}${password}::::::\n`);
    },
    async deliver(user, raw, o = {}) {
      const name = `${Date.now()}.M${process.pid}P${++counter}.claw-test`;
      const tmp = join(maildir(user), "tmp", name);
      await writeFile(tmp, raw.replace(/\r?\n/g, "\n"));
      await own(tmp);
      await rename(tmp, o.seen ? join(maildir(user), "cur", `${name}:2,S`) : join(maildir(user), "new", name));
    },
    async mails(user, folder = "INBOX") {
      const base = folder === "INBOX" ? maildir(user) : join(maildir(user), `.${folder}`);
      const out: StoredMail[] = [];
      for (const sub of ["new", "cur"]) {
        const files = await readdir(join(base, sub)).catch(() => [] as string[]);
        for (const file of files) {
          const raw = await readFile(join(base, sub, file), "utf8").catch(() => undefined);
          if (raw !== undefined) out.push({ folder, file, flags: /:2,([A-Za-z]*)$/.exec(file)?.[1] ?? "", raw });
        }
      }
      return out;
    },
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function portOpen(port: number): Promise<boolean> {
  const { connect } = await import("node:net");
  return new Promise((r) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      r(true);
    });
    s.once("error", () => r(false));
  });
}

/** A mail the sink took. */
export interface SunkMail {
  /** SMTP envelope recipients */
  rcpt: string[];
  mail: ParsedMail;
  raw: string;
}

/** An SMTP answer to one recipient, and how many more times to give it. */
interface Refusal {
  code: number;
  message: string;
  times: number;
}

/** An SMTP sink the test owns. */
export interface SmtpSink extends AsyncDisposable {
  readonly port: number;
  /** mails taken, in order */
  readonly mails: SunkMail[];
  /** every RCPT TO with what the sink answered */
  readonly attempts: Array<{ to: string; code: number; at: number }>;
  /** answers RCPT TO `address` with `code message`, `times` times (default: always) */
  refuse(address: string, code: number, message: string, times?: number): void;
  /** the mails to one address */
  to(address: string): SunkMail[];
}

/** Starts an SMTP server on a free port that takes every mail (without TLS or login), except as told. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const port = await freePort();
  const mails: SunkMail[] = [];
  const attempts: SmtpSink["attempts"] = [];
  const refusals = new Map<string, Refusal>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onRcptTo(address, _session, cb) {
      const to = address.address.toLowerCase();
      const r = refusals.get(to);
      if (r && r.times > 0) {
        r.times--;
        attempts.push({ to, code: r.code, at: Date.now() });
        return cb(Object.assign(new Error(r.message), { responseCode: r.code }));
      }
      attempts.push({ to, code: 250, at: Date.now() });
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        void simpleParser(raw).then(
          (mail) => {
            mails.push({ rcpt: session.envelope.rcptTo.map((a) => a.address.toLowerCase()), mail, raw });
            cb();
          },
          (e: Error) => cb(e),
        );
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    port,
    mails,
    attempts,
    refuse(address, code, message, times = Infinity) {
      refusals.set(address.toLowerCase(), { code, message, times });
    },
    to: (address) => mails.filter((m) => m.rcpt.includes(address.toLowerCase())),
    async [Symbol.asyncDispose]() {
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A mail as a client writes it (CRLF line ends, the headers given in order, then the body). */
export function mail(headers: Record<string, string>, body: string): string {
  const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  return [...head, "", body].join("\r\n");
}
