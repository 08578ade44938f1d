/**
 * The `llm` scenario: turns through Claw's `POST /v1/chat/completions` (the
 * `openai` package as the client) to an agent on an OpenAI-compatible
 * provider — a fake that answers at once (test/support/fake-openai.ts) —
 * closed loop at concurrency 1 and 16. The baseline is the same client asking
 * the fake directly, in the same run: Claw's own cost per turn is the
 * difference (the gateway, the bus, ingress, the session actor, the reply).
 * At the highest concurrency Claw is run again with a new session per request
 * (a `user` never seen before), as every conversation's first turn comes: its
 * turns/s against the reused sessions' is `newSessionRatio` (issue 34's goal ≥ 0.85).
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { lastUser, startFakeOpenAI } from "../test/support/fake-openai.js";
import { startClawTarget } from "./targets.js";
import { sample } from "./process-stats.js";
import { closedLoop } from "./closed-loop.js";

/** One closed-loop run. */
export interface LlmRow {
  target: "fake directly" | "claw" | "claw, new sessions";
  concurrency: number;
  turns: number;
  turnsPerS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
}

/** What the scenario measured. */
export interface LlmResult {
  rows: LlmRow[];
  /** p50 of Claw minus p50 of the fake, per concurrency */
  overheadP50Ms: Record<number, number>;
  nodeRssMB: number;
  /** turns/s with a new session per request ÷ with a session per client, at the highest concurrency */
  newSessionRatio: number;
}

async function turns(client: OpenAI, model: string, concurrency: number, seconds: number, target: LlmRow["target"]): Promise<LlmRow> {
  // one session per worker, or (new sessions) one per request: the run's pid and start keep them new across runs on the same bucket
  const run = `${process.pid}-${Date.now()}`;
  const user = target === "claw, new sessions" ? (w: number, i: number) => `bench-${run}-${w}-${i}` : (w: number) => `bench-${w}`;
  const r = await closedLoop(concurrency, seconds, async (w, i) => {
    await client.chat.completions.create({ model, user: user(w, i), messages: [{ role: "user", content: `question ${i} of worker ${w}` }] });
  });
  return { target, concurrency, turns: r.requests, turnsPerS: r.perS, p50Ms: r.p50Ms, p99Ms: r.p99Ms, maxMs: r.maxMs, errors: r.errors };
}

/** Runs the scenario: `seconds` per run, at each concurrency. */
export async function runLlm(seconds: number, concurrencies: number[]): Promise<LlmResult> {
  const fake = await startFakeOpenAI();
  fake.answer = (req) => ({ text: `Answer to: ${lastUser(req)}`, usage: { prompt: 20, completion: 6 } });
  const config = join(tmpdir(), `claw-bench-llm-${process.pid}.json`);
  await writeFile(
    config,
    JSON.stringify({
      providers: { fake: { baseURL: fake.baseURL, model: "fake-instant" } },
      agents: [{ id: "assistant", model: "fake", system: "You are a benchmark." }],
    }),
  );
  const target = await startClawTarget(1, { CLAW_CONFIG: config });
  const rows: LlmRow[] = [];
  let nodeRssMB = 0;
  try {
    const direct = new OpenAI({ baseURL: fake.baseURL, apiKey: "unused", maxRetries: 0 });
    const claw = new OpenAI({ baseURL: `${target.httpUrl}/v1`, apiKey: "unused", maxRetries: 0, timeout: 60_000 });
    for (const c of concurrencies) {
      process.stderr.write(`llm: concurrency ${c}: the fake directly …\n`);
      rows.push(await turns(direct, "fake-instant", c, seconds, "fake directly"));
      process.stderr.write(`llm: concurrency ${c}: through Claw …\n`);
      rows.push(await turns(claw, "assistant", c, seconds, "claw"));
    }
    const top = Math.max(...concurrencies);
    process.stderr.write(`llm: concurrency ${top}: through Claw, a new session per request …\n`);
    rows.push(await turns(claw, "assistant", top, seconds, "claw, new sessions"));
    nodeRssMB = Math.round(((await sample(target.workers[0]!.pid!))?.rssBytes ?? 0) / 1024 / 1024);
  } finally {
    await target.stop();
    await fake.close();
  }
  const overheadP50Ms = Object.fromEntries(
    concurrencies.map((c) => {
      const [f, k] = [rows.find((r) => r.concurrency === c && r.target === "fake directly")!, rows.find((r) => r.concurrency === c && r.target === "claw")!];
      return [c, Math.round((k.p50Ms - f.p50Ms) * 100) / 100];
    }),
  );
  const perS = (t: LlmRow["target"]) => rows.find((r) => r.concurrency === Math.max(...concurrencies) && r.target === t)?.turnsPerS ?? 0;
  const newSessionRatio = Math.round((perS("claw, new sessions") / Math.max(1, perS("claw"))) * 100) / 100;
  return { rows, overheadP50Ms, nodeRssMB, newSessionRatio };
}
