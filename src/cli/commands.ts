/**
 * The `claw` commands as data: each one's name, its lines in the usage, and
 * how its arguments become the options of the module that runs it
 * (`<name>.command.ts`). A command's handler resolves with the exit code (-1:
 * keep running); arguments it cannot use throw {@link UsageError}.
 */
import { parseArgs } from "node:util";
import { DEFAULT_PARTITIONS } from "../bus/index.js";
import { auditCommand } from "./audit.command.js";
import { backupCommand } from "./backup.command.js";
import { channelsPairCommand } from "./channels-pair.command.js";
import { channelsCommand } from "./channels.command.js";
import { clusterCommand } from "./cluster.command.js";
import { dlqCommand } from "./dlq.command.js";
import { UsageError } from "./errors.js";
import { importOpenClawCommand } from "./import.command.js";
import { inspectCommand } from "./inspect.command.js";
import { keysCommand, parseWhen } from "./keys.command.js";
import { memoryCommand } from "./memory.command.js";
import { approvalsCommand } from "./approvals.command.js";
import { runNodeProcess } from "./run-node.js";
import { schedulesCommand } from "./schedules.command.js";
import { sendCommand } from "./send.command.js";
import { skillsCommand } from "./skills.command.js";
import { tailCommand } from "./tail.command.js";
import { tenantsCommand } from "./tenants.command.js";
import { usageCommand } from "./usage.command.js";
import { topCommand } from "./top.command.js";

/** One `claw` command. */
export interface CliCommand {
  /** the first argument that selects it */
  name: string;
  /** its lines in the usage, as printed after two spaces */
  usage: readonly string[];
  /** runs it with the arguments after its name; resolves with the exit code (-1: the process keeps running) */
  run(args: string[]): Promise<number>;
}

const json = { type: "boolean", default: false } as const;

/** Keeps a whole number of at least `min`, or refuses `text` as `what`. */
function count(text: string, min: number, what: string): number {
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= min)) throw new UsageError(`${what}: ${text}`);
  return n;
}

/** `status` and `cluster`: the cluster, in full or brief. */
function clusterView(name: string, view: "full" | "brief", ...usage: string[]): CliCommand {
  return {
    name,
    usage,
    async run(args) {
      const { values } = parseArgs({ args, options: { json } });
      return clusterCommand({ json: values.json, view });
    },
  };
}

/** `backup <dir>` and `restore <dir> [--force]`: one folder, and the same module. */
function backupOrRestore(action: "backup" | "restore", ...usage: string[]): CliCommand {
  return {
    name: action,
    usage,
    async run(args) {
      const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { force: { type: "boolean", default: false } } });
      if (positionals.length !== 1) throw new UsageError(`${action} needs <dir>`);
      return backupCommand({ action, dir: positionals[0]!, force: values.force });
    },
  };
}

/** Every `claw` command, in the order the usage lists them. */
export const COMMANDS: readonly CliCommand[] = [
  {
    name: "start",
    usage: ["start                              start a node (same as: node dist/node.js)"],
    async run() {
      await runNodeProcess();
      return -1; // keeps running until a signal
    },
  },
  {
    name: "send",
    usage: [
      "send <channel> <chat> <text...>    publish a message to claw.in.<channel>.<account>.<chat> and print the reply",
      "      [--account <a>] [--sender <id>] [--timeout <ms>] [--json]",
    ],
    async run(args) {
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
          account: { type: "string", default: "cli" },
          sender: { type: "string", default: process.env.USER || "cli" },
          timeout: { type: "string", default: "10000" },
          json,
        },
      });
      const [channel, chat, ...words] = positionals;
      if (!channel || !chat || words.length === 0) throw new UsageError("send needs <channel> <chat> <text>");
      return sendCommand({
        channel,
        chat,
        text: words.join(" "),
        account: values.account,
        sender: values.sender,
        timeoutMs: Number(values.timeout),
        json: values.json,
      });
    },
  },
  {
    name: "tail",
    usage: ["tail [subject]                     print decoded bus traffic (default subject: claw.>)", "      [--raw]"],
    async run(args) {
      const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { raw: { type: "boolean", default: false } } });
      return tailCommand({ subject: positionals[0], raw: values.raw });
    },
  },
  clusterView(
    "status",
    "full",
    "status [--json]                    nodes (version, pid, uptime, partitions, sessions, backlog, HTTP address),",
    "                                   leader, assignment epoch, partitions with backlog, dead letters per stage",
  ),
  clusterView("cluster", "brief", "cluster [--json]                   members, leader, partition assignment and backlog (brief status)"),
  {
    name: "channels",
    usage: [
      "channels [--json]                  channel accounts: who runs each, connected or backing off (and why)",
      "channels pair whatsapp <account> [--timeout <s>]",
      "                                   show the QR code (or pairing code) to link the account as a device, until linked",
    ],
    async run(args) {
      const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json, timeout: { type: "string", default: "300" } } });
      if (positionals[0] === "pair") {
        const [, type, account] = positionals;
        if (!type || !account) throw new UsageError("channels pair needs <type> <account>, e.g. claw channels pair whatsapp phone");
        return channelsPairCommand({ type, account, timeoutMs: Number(values.timeout) * 1000 });
      }
      if (positionals.length > 0) throw new UsageError(`unknown channels command: ${positionals[0]}`);
      return channelsCommand({ json: values.json });
    },
  },
  {
    name: "top",
    usage: [
      "top [--interval <ms>] [--once] [--json]",
      "                                   live per-node msgs/s in and out, end-to-end p99, sessions, partitions, lag",
      "                                   (from each node's /metrics; q or Ctrl-C quits)",
    ],
    async run(args) {
      const { values } = parseArgs({ args, options: { interval: { type: "string", default: "2000" }, once: { type: "boolean", default: false }, json } });
      const intervalMs = count(values.interval, 100, "--interval must be a whole number of ms, at least 100");
      return topCommand({ intervalMs, once: values.once, json: values.json });
    },
  },
  {
    name: "inspect",
    usage: ["inspect <agent> <session> [--json] a session's persisted state and history, and the node running it now"],
    async run(args) {
      const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json } });
      const [agent, session, extra] = positionals;
      if (!agent || !session || extra !== undefined) throw new UsageError("inspect needs <agent> <session>");
      return inspectCommand({ agent, session, json: values.json });
    },
  },
  {
    name: "dlq",
    usage: [
      "dlq ls [--stage <s>] [--limit <n>] [--json]   list dead letters (oldest first)",
      "dlq show <seq>                     one dead letter: reason headers and decoded payload",
      "dlq replay <seq>|--all [--stage <s>] [--to <subject>] [--keep]",
      "                                   republish to the original subject (then remove it from the DLQ unless --keep)",
      "dlq purge [--stage <s>]            delete dead letters",
    ],
    async run(args) {
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
          stage: { type: "string" },
          limit: { type: "string", default: "100" },
          to: { type: "string" },
          all: { type: "boolean", default: false },
          keep: { type: "boolean", default: false },
          json,
        },
      });
      const [action, seqText] = positionals;
      if (action !== "ls" && action !== "show" && action !== "replay" && action !== "purge") throw new UsageError("dlq needs ls, show, replay or purge");
      const seq = seqText === undefined ? undefined : count(seqText, 1, "not a sequence number");
      if (action === "show" && seq === undefined) throw new UsageError("dlq show needs <seq>");
      if (action === "replay" && seq === undefined && !values.all) throw new UsageError("dlq replay needs <seq> or --all");
      return dlqCommand({
        action,
        seq,
        all: values.all,
        stage: values.stage,
        limit: Number(values.limit),
        to: values.to,
        keep: values.keep,
        json: values.json,
      });
    },
  },
  {
    name: "approvals",
    usage: [
      "approvals ls [--agent <id>] [--session <id>] [--json]",
      "                                   the tool calls waiting for a decision (an agent's approve field)",
      "approvals approve <id> [--reason <text>] [--by <who>]",
      "approvals deny <id> [--reason <text>] [--by <who>]",
      "                                   decide, once: the turn resumes on whichever node owns its session",
    ],
    async run(args) {
      const text = { type: "string" } as const;
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: { json, agent: text, session: text, reason: text, by: text },
      });
      const [action, id, extra] = positionals;
      if (action === "ls" && id === undefined) return approvalsCommand({ action, agent: values.agent, session: values.session, json: values.json });
      if ((action === "approve" || action === "deny") && id !== undefined && extra === undefined)
        return approvalsCommand({ action, id, reason: values.reason, by: values.by });
      throw new UsageError("approvals needs ls, approve <id> or deny <id>");
    },
  },
  {
    name: "memory",
    usage: [
      "memory ls <agent> [--channel <c> --sender <id> | --channel <c> --account <a> --chat <id>] [-q <words>] [--json]",
      "                                   what an agent remembers (memory.write), by sender or chat, or what matches",
      "memory rm <agent> <id>             forget one memory",
    ],
    async run(args) {
      const text = { type: "string" } as const;
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: { json, channel: text, account: text, chat: text, sender: text, q: { type: "string", short: "q" } },
      });
      const [action, agent, id, extra] = positionals;
      if (action === "ls" && agent !== undefined && id === undefined) return memoryCommand({ action, agent, ...values });
      if (action === "rm" && agent !== undefined && id !== undefined && extra === undefined) return memoryCommand({ action, agent, id });
      throw new UsageError("memory needs ls <agent>, or rm <agent> <id>");
    },
  },
  {
    name: "schedules",
    usage: [
      "schedules ls [--json]              the schedules (chat, agent, when, next occurrence, text)",
      "schedules rm <id>                  delete a schedule: no occurrence after this",
    ],
    async run(args) {
      const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json } });
      const [action, id, extra] = positionals;
      if (action === "ls" && id === undefined) return schedulesCommand({ action, json: values.json });
      if (action === "rm" && id !== undefined && extra === undefined) return schedulesCommand({ action, id });
      throw new UsageError("schedules needs ls, or rm <id>");
    },
  },
  {
    name: "skills",
    usage: [
      "skills ls [--json]                 every registered skill version (id, version, runtime, source)",
      "skills install <dir>               register a skill folder (its skill.json and files), as POST /v1/skills does",
      "skills invoke <id> <json> [--version <range>] [--timeout <ms>] [--json]",
      "                                   run a skill on whichever node can and print its output",
    ],
    async run(args) {
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: { json, version: { type: "string" }, timeout: { type: "string", default: "30000" } },
      });
      const [action, a, b] = positionals;
      if (action === "ls") return skillsCommand({ action, json: values.json });
      if (action === "install") {
        if (!a) throw new UsageError("skills install needs <dir>");
        return skillsCommand({ action, dir: a });
      }
      if (action === "invoke") {
        if (!a) throw new UsageError("skills invoke needs <id> [<json input>]");
        return skillsCommand({ action, skill: a, input: b ?? "{}", version: values.version, timeoutMs: Number(values.timeout), json: values.json });
      }
      throw new UsageError("skills needs ls, install or invoke");
    },
  },
  {
    name: "keys",
    usage: [
      "keys create --scopes <a,b> [--tenant <id>] [--name <n>] [--expires <30d|date>] [--json]",
      "                                   an API key for the gateway, printed once (only its hash is kept);",
      "                                   with --tenant it sees and changes only that tenant's agents",
      "keys ls [--json]                   the API keys (id, name, scopes, expiry)",
      "keys revoke <id>                   refuse a key on every node from now on",
      "keys rotate <id> [--grace <1h>] [--json]",
      "                                   a new key with the same scopes; the old one works for the grace period",
    ],
    async run(args) {
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
          scopes: { type: "string" },
          name: { type: "string" },
          tenant: { type: "string" },
          expires: { type: "string" },
          grace: { type: "string", default: "1h" },
          json,
        },
      });
      const [action, id, extra] = positionals;
      if (extra !== undefined) throw new UsageError(`keys ${action}: unexpected ${extra}`);
      if (action === "create") {
        if (!values.scopes) throw new UsageError("keys create needs --scopes (e.g. --scopes messages:write,agents:invoke, or '*' for everything)");
        return keysCommand({
          action,
          scopes: values.scopes.split(","),
          name: values.name,
          tenant: values.tenant,
          expires: values.expires ? parseWhen(values.expires) : undefined,
          json: values.json,
        });
      }
      if (action === "ls") return keysCommand({ action, json: values.json });
      if (action === "revoke" || action === "rotate") {
        if (!id) throw new UsageError(`keys ${action} needs <id> (claw keys ls lists them)`);
        if (action === "revoke") return keysCommand({ action, id });
        return keysCommand({ action, id, graceMs: parseWhen(values.grace, 0), json: values.json });
      }
      throw new UsageError("keys needs create, ls, revoke or rotate");
    },
  },
  {
    name: "tenants",
    usage: [
      "tenants ls [--json]                the tenants and their quotas",
      "tenants set <id> [--messages-per-minute N] [--tokens-per-day N] [--concurrent-turns N] [--sessions N] [--json]",
      "                                   make a tenant or change its quotas (every node applies it at once); N off takes one away",
      "tenants nats-config [--config <file>] [--partitions N]",
      "                                   print NATS accounts (nats-server config) in which each tenant's user may publish only",
      "                                   to its own channel accounts' claw.in subjects (from CLAW_CONFIG; no NATS needed)",
    ],
    async run(args) {
      const n = { type: "string" } as const;
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: { "messages-per-minute": n, "tokens-per-day": n, "concurrent-turns": n, sessions: n, json, config: n, partitions: n },
      });
      const [action, id, extra] = positionals;
      if (extra !== undefined) throw new UsageError(`tenants ${action}: unexpected ${extra}`);
      if (action === "ls") return tenantsCommand({ action, json: values.json });
      if (action === "nats-config") {
        if (id !== undefined) throw new UsageError(`tenants nats-config: unexpected ${id}`);
        const partitions = values.partitions ?? process.env.CLAW_PARTITIONS;
        return tenantsCommand({
          action,
          config: values.config,
          partitions: partitions === undefined ? DEFAULT_PARTITIONS : count(partitions, 1, "--partitions: not a count of at least 1"),
        });
      }
      if (action !== "set") throw new UsageError("tenants needs ls, set or nats-config");
      if (!id) throw new UsageError("tenants set needs <id>");
      // a count, or `off`: the quota is taken away (null)
      const quota = (flag: keyof typeof values & string) => {
        const v = values[flag];
        if (v === "off") return null;
        return typeof v === "string" ? count(v, 1, `--${flag}: not a count of at least 1 (or off)`) : undefined;
      };
      const quotas = Object.fromEntries(
        (
          [
            ["messagesPerMinute", quota("messages-per-minute")],
            ["tokensPerDay", quota("tokens-per-day")],
            ["concurrentTurns", quota("concurrent-turns")],
            ["sessions", quota("sessions")],
          ] as const
        ).filter(([, v]) => v !== undefined),
      );
      return tenantsCommand({ action, id, quotas, json: values.json });
    },
  },
  {
    name: "usage",
    usage: [
      "usage [--tenant <id>] [--agent <id>] [--from <YYYY-MM-DD>] [--to <YYYY-MM-DD>] [--json]",
      "                                   model calls and tokens per day, tenant and agent (default: the last 30 days)",
    ],
    async run(args) {
      const s = { type: "string" } as const;
      const { values } = parseArgs({ args, options: { tenant: s, agent: s, from: s, to: s, json } });
      return usageCommand({ tenant: values.tenant, agent: values.agent, from: values.from, to: values.to, json: values.json });
    },
  },
  backupOrRestore("backup", "backup <dir>                       Claw's streams, KV buckets and skill files to a folder (nodes may run)"),
  backupOrRestore("restore", "restore <dir> [--force]            them back into an empty NATS (--force: into streams that hold messages)"),
  {
    name: "import",
    usage: [
      "import openclaw <dir> [--agent <id>] [--key <api key id>] [--account <channel account>] [--history <20>] [--replace]",
      "                                   OpenClaw's session transcripts (~/.openclaw) into Claw sessions",
    ],
    async run(args) {
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
          agent: { type: "string" },
          key: { type: "string" },
          account: { type: "string" },
          history: { type: "string", default: "20" },
          replace: { type: "boolean", default: false },
        },
      });
      const [from, dir, extra] = positionals;
      if (from !== "openclaw" || !dir || extra !== undefined) throw new UsageError("import needs openclaw <dir> (OpenClaw's state dir, e.g. ~/.openclaw)");
      const historyLimit = count(values.history, 0, "--history: not a count");
      return importOpenClawCommand({ dir, agent: values.agent, key: values.key, account: values.account, historyLimit, replace: values.replace });
    },
  },
  {
    name: "audit",
    usage: ["audit tail [-n <20>] [--follow] [--json]", "                                   control-plane calls and refused credentials (CLAW_AUDIT)"],
    async run(args) {
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: { n: { type: "string", short: "n", default: "20" }, follow: { type: "boolean", short: "f", default: false }, json },
      });
      if (positionals[0] !== "tail" || positionals.length > 1) throw new UsageError("audit needs tail");
      const n = count(values.n, 1, "-n: not a count");
      return auditCommand({ n, follow: values.follow, json: values.json });
    },
  },
];
