/**
 * The harness that runs a `node` skill inside its sandbox: reads the input
 * (JSON) from stdin, imports the skill's module, calls its `run(input, ctx)`
 * (or the default export when it is a function), and writes the output as
 * JSON to stdout — the skill's own `console.log` and stdout go to stderr, so
 * nothing but the output is ever on stdout. A throw exits 1 with the message.
 *
 *   node node-runner.js /skill/index.mjs
 */
import { format } from "node:util";
import { pathToFileURL } from "node:url";

/** What a skill's `run` is given besides its input. */
export interface NodeSkillContext {
  /** the workspace (`/work`) */
  workspace: string;
  /** the environment the skill was given (its declared env vars and secrets) */
  env: Record<string, string | undefined>;
}

async function readStdin(): Promise<string> {
  let text = "";
  process.stdin.setEncoding("utf8");
  for await (const chunk of process.stdin) text += chunk as string;
  return text;
}

/** The real stdout: only the result goes there. */
const writeResult = process.stdout.write.bind(process.stdout);

async function main(): Promise<void> {
  const modulePath = process.argv[2];
  if (!modulePath) throw new Error("usage: node-runner <module>");
  const raw = await readStdin();
  const input: unknown = raw.trim() ? JSON.parse(raw) : {};
  // the skill's own output must not mix with its result
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  console.log = (...a: unknown[]) => void process.stderr.write(format(...a) + "\n");
  const mod = (await import(pathToFileURL(modulePath).href)) as { default?: unknown; run?: unknown };
  const skill = (mod.default ?? mod) as { run?: (i: unknown, c: NodeSkillContext) => unknown } | ((i: unknown, c: NodeSkillContext) => unknown);
  const run = typeof skill === "function" ? skill : skill.run;
  if (typeof run !== "function") throw new Error(`${modulePath} exports no run(input, ctx) (export default defineSkill({ run }) or a function)`);
  const output = await run(input, { workspace: process.cwd(), env: process.env });
  writeResult(JSON.stringify(output ?? null));
}

/** Resolves when everything written to `s` so far is out (writes to a pipe may be queued in memory). */
const flushed = (s: NodeJS.WriteStream) => new Promise<void>((r) => s.write("", () => r()));

// exit only once what was written is out: a skill that printed a lot is then stopped by its
// sandbox's output limit instead of its output being dropped at exit
main().then(
  async () => {
    await Promise.all([flushed(process.stderr), new Promise<void>((r) => writeResult("", () => r()))]);
    process.exit(0);
  },
  async (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    await flushed(process.stderr);
    process.exit(1);
  },
);
