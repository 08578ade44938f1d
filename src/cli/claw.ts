#!/usr/bin/env node
/**
 * The `claw` command line: start a node, send a message and print the reply,
 * tail bus traffic, look at the cluster (status, top), a session (inspect),
 * dead letters and skills.
 */
import { parseArgs } from "node:util";
import { runNodeProcess } from "./run-node.js";
import { describeError } from "./describe-error.js";
import { sendCommand } from "./send.command.js";
import { tailCommand } from "./tail.command.js";
import { dlqCommand } from "./dlq.command.js";
import { clusterCommand } from "./cluster.command.js";
import { topCommand } from "./top.command.js";
import { inspectCommand } from "./inspect.command.js";
import { skillsCommand } from "./skills.command.js";
import { channelsCommand } from "./channels.command.js";
import { channelsPairCommand } from "./channels-pair.command.js";
import { keysCommand, parseWhen } from "./keys.command.js";
import { auditCommand } from "./audit.command.js";
import { backupCommand } from "./backup.command.js";
import { importOpenClawCommand } from "./import.command.js";

const USAGE = `usage: claw <command> [options]

commands:
  start                              start a node (same as: node dist/node.js)
  send <channel> <chat> <text...>    publish a message to claw.in.<channel>.<account>.<chat> and print the reply
        [--account <a>] [--sender <id>] [--timeout <ms>] [--json]
  tail [subject]                     print decoded bus traffic (default subject: claw.>)
        [--raw]
  status [--json]                    nodes (version, pid, uptime, partitions, sessions, backlog, HTTP address),
                                     leader, assignment epoch, partitions with backlog, dead letters per stage
  cluster [--json]                   members, leader, partition assignment and backlog (brief status)
  channels [--json]                  channel accounts: who runs each, connected or backing off (and why)
  channels pair whatsapp <account> [--timeout <s>]
                                     show the QR code (or pairing code) to link the account as a device, until linked
  top [--interval <ms>] [--once] [--json]
                                     live per-node msgs/s in and out, end-to-end p99, sessions, partitions, lag
                                     (from each node's /metrics; q or Ctrl-C quits)
  inspect <agent> <session> [--json] a session's persisted state and history, and the node running it now
  dlq ls [--stage <s>] [--limit <n>] [--json]   list dead letters (oldest first)
  dlq show <seq>                     one dead letter: reason headers and decoded payload
  dlq replay <seq>|--all [--stage <s>] [--to <subject>] [--keep]
                                     republish to the original subject (then remove it from the DLQ unless --keep)
  dlq purge [--stage <s>]            delete dead letters
  skills ls [--json]                 every registered skill version (id, version, runtime, source)
  skills install <dir>               register a skill folder (its skill.json and files), as POST /v1/skills does
  skills invoke <id> <json> [--version <range>] [--timeout <ms>] [--json]
                                     run a skill on whichever node can and print its output
  keys create --scopes <a,b> [--name <n>] [--expires <30d|date>] [--json]
                                     an API key for the gateway, printed once (only its hash is kept)
  keys ls [--json]                   the API keys (id, name, scopes, expiry)
  keys revoke <id>                   refuse a key on every node from now on
  keys rotate <id> [--grace <1h>] [--json]
                                     a new key with the same scopes; the old one works for the grace period
  backup <dir>                       Claw's streams, KV buckets and skill files to a folder (nodes may run)
  restore <dir> [--force]            them back into an empty NATS (--force: into streams that hold messages)
  import openclaw <dir> [--agent <id>] [--key <api key id>] [--account <channel account>] [--history <20>] [--replace]
                                     OpenClaw's session transcripts (~/.openclaw) into Claw sessions
  audit tail [-n <20>] [--follow] [--json]
                                     control-plane calls and refused credentials (CLAW_AUDIT)

environment: NATS_URL (default nats://127.0.0.1:4222, the embedded default); see docs/configuration.md for the rest.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "start":
      await runNodeProcess();
      return -1; // keeps running until a signal
    case "send": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          account: { type: "string", default: "cli" },
          sender: { type: "string", default: process.env.USER || "cli" },
          timeout: { type: "string", default: "10000" },
          json: { type: "boolean", default: false },
        },
      });
      const [channel, chat, ...words] = positionals;
      if (!channel || !chat || words.length === 0) throw new UsageError("send needs <channel> <chat> <text>");
      return sendCommand({ channel, chat, text: words.join(" "), account: values.account, sender: values.sender, timeoutMs: Number(values.timeout), json: values.json });
    }
    case "tail": {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { raw: { type: "boolean", default: false } } });
      return tailCommand({ subject: positionals[0] ?? "claw.>", raw: values.raw });
    }
    case "status":
    case "cluster": {
      const { values } = parseArgs({ args: rest, options: { json: { type: "boolean", default: false } } });
      return clusterCommand({ json: values.json, view: command === "status" ? "full" : "brief" });
    }
    case "channels": {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: "boolean", default: false }, timeout: { type: "string", default: "300" } } });
      if (positionals[0] === "pair") {
        const [, type, account] = positionals;
        if (!type || !account) throw new UsageError("channels pair needs <type> <account>, e.g. claw channels pair whatsapp phone");
        return channelsPairCommand({ type, account, timeoutMs: Number(values.timeout) * 1000 });
      }
      if (positionals.length > 0) throw new UsageError(`unknown channels command: ${positionals[0]}`);
      return channelsCommand({ json: values.json });
    }
    case "top": {
      const { values } = parseArgs({
        args: rest,
        options: {
          interval: { type: "string", default: "2000" },
          once: { type: "boolean", default: false },
          json: { type: "boolean", default: false },
        },
      });
      const intervalMs = Number(values.interval);
      if (!(Number.isInteger(intervalMs) && intervalMs >= 100)) throw new UsageError(`--interval must be a whole number of ms, at least 100: ${values.interval}`);
      return topCommand({ intervalMs, once: values.once, json: values.json });
    }
    case "inspect": {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: "boolean", default: false } } });
      const [agent, session, extra] = positionals;
      if (!agent || !session || extra !== undefined) throw new UsageError("inspect needs <agent> <session>");
      return inspectCommand({ agent, session, json: values.json });
    }
    case "dlq": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          stage: { type: "string" },
          limit: { type: "string", default: "100" },
          to: { type: "string" },
          all: { type: "boolean", default: false },
          keep: { type: "boolean", default: false },
          json: { type: "boolean", default: false },
        },
      });
      const [action, seqText] = positionals;
      if (action !== "ls" && action !== "show" && action !== "replay" && action !== "purge") throw new UsageError("dlq needs ls, show, replay or purge");
      const seq = seqText === undefined ? undefined : Number(seqText);
      if (seq !== undefined && !(Number.isInteger(seq) && seq > 0)) throw new UsageError(`not a sequence number: ${seqText}`);
      if (action === "show" && seq === undefined) throw new UsageError("dlq show needs <seq>");
      if (action === "replay" && seq === undefined && !values.all) throw new UsageError("dlq replay needs <seq> or --all");
      return dlqCommand({ action, seq, all: values.all, stage: values.stage, limit: Number(values.limit), to: values.to, keep: values.keep, json: values.json });
    }
    case "skills": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { json: { type: "boolean", default: false }, version: { type: "string" }, timeout: { type: "string", default: "30000" } },
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
    }
    case "keys": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { scopes: { type: "string" }, name: { type: "string" }, expires: { type: "string" }, grace: { type: "string", default: "1h" }, json: { type: "boolean", default: false } },
      });
      const [action, id, extra] = positionals;
      if (extra !== undefined) throw new UsageError(`keys ${action}: unexpected ${extra}`);
      if (action === "create") {
        if (!values.scopes) throw new UsageError("keys create needs --scopes (e.g. --scopes messages:write,agents:invoke, or '*' for everything)");
        return keysCommand({ action, scopes: values.scopes.split(","), name: values.name, expires: values.expires ? parseWhen(values.expires) : undefined, json: values.json });
      }
      if (action === "ls") return keysCommand({ action, json: values.json });
      if (action === "revoke" || action === "rotate") {
        if (!id) throw new UsageError(`keys ${action} needs <id> (claw keys ls lists them)`);
        if (action === "revoke") return keysCommand({ action, id });
        return keysCommand({ action, id, graceMs: parseWhen(values.grace, 0), json: values.json });
      }
      throw new UsageError("keys needs create, ls, revoke or rotate");
    }
    case "backup":
    case "restore": {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { force: { type: "boolean", default: false } } });
      if (positionals.length !== 1) throw new UsageError(`${command} needs <dir>`);
      return backupCommand({ action: command, dir: positionals[0]!, force: values.force });
    }
    case "import": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { agent: { type: "string" }, key: { type: "string" }, account: { type: "string" }, history: { type: "string", default: "20" }, replace: { type: "boolean", default: false } },
      });
      const [from, dir, extra] = positionals;
      if (from !== "openclaw" || !dir || extra !== undefined) throw new UsageError("import needs openclaw <dir> (OpenClaw's state dir, e.g. ~/.openclaw)");
      const historyLimit = Number(values.history);
      if (!(Number.isInteger(historyLimit) && historyLimit >= 0)) throw new UsageError(`--history: not a count: ${values.history}`);
      return importOpenClawCommand({ dir, agent: values.agent, key: values.key, account: values.account, historyLimit, replace: values.replace });
    }
    case "audit": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { n: { type: "string", short: "n", default: "20" }, follow: { type: "boolean", short: "f", default: false }, json: { type: "boolean", default: false } },
      });
      if (positionals[0] !== "tail" || positionals.length > 1) throw new UsageError("audit needs tail");
      const n = Number(values.n);
      if (!(Number.isInteger(n) && n > 0)) throw new UsageError(`-n: not a count: ${values.n}`);
      return auditCommand({ n, follow: values.follow, json: values.json });
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE + "\n");
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

class UsageError extends Error {}

try {
  const code = await main(process.argv.slice(2));
  if (code >= 0) process.exit(code);
} catch (e) {
  process.stderr.write(`claw: ${describeError(e)}\n`);
  const code = (e as { code?: unknown }).code; // JetStream errors have numeric codes
  if (e instanceof UsageError || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))) process.stderr.write(USAGE + "\n");
  process.exit(e instanceof UsageError ? 2 : 1);
}
