#!/usr/bin/env node
/**
 * The `claw` command line: start a node, send a message and print the reply,
 * tail bus traffic, look at the cluster (status, top), a session (inspect),
 * dead letters and skills. The commands are a table (commands.ts); this is
 * the dispatch, the usage and the exit code.
 */
import { COMMANDS } from "./commands.js";
import { describeError } from "./describe-error.js";
import { UsageError } from "./errors.js";

const USAGE = [
  "usage: claw <command> [options]",
  "",
  "commands:",
  ...COMMANDS.flatMap((c) => c.usage.map((line) => `  ${line}`)),
  "",
  "environment: NATS_URL (default nats://127.0.0.1:4222, the embedded default); see docs/configuration.md for the rest.",
].join("\n");

const HELP = new Set(["help", "--help", "-h"]);

/** Runs the command `argv` names; resolves with the exit code (-1: the process keeps running). */
async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || HELP.has(name)) {
    process.stdout.write(USAGE + "\n");
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command: ${name}`);
  return command.run(rest);
}

try {
  const code = await main(process.argv.slice(2));
  if (code >= 0) process.exit(code);
} catch (e) {
  process.stderr.write(`claw: ${describeError(e)}\n`);
  const code = (e as { code?: unknown }).code; // JetStream errors have numeric codes
  if (e instanceof UsageError || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))) process.stderr.write(USAGE + "\n");
  process.exit(e instanceof UsageError ? 2 : 1);
}
