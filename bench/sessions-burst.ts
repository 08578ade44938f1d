/**
 * The `sessions-burst` scenario: what a conversation's first message costs.
 * On a freshly started target (the raw-JetStream baseline, then a Claw node,
 * each on its own fresh nats-server), one after the other in the same run:
 *
 * 1. `cold, new chats`: N messages to N new chats at a given rate, the
 *    node's first load (a node just added, restarted or taking over);
 * 2. `known chats`: the same N chats again, at the same rate;
 * 3. `warm, new chats`: N other new chats, on the now warm node;
 * 4. `known again`: the chats of 3 again (the reference for 3, measured
 *    right after it).
 *
 * Each phase starts when the one before has been answered. For Claw it
 * prints where the slowest messages of each phase spent their time (the
 * node's `slow turn` lines: the KV lookup and actor creation of a session
 * not in memory, the first snapshot write, …) and the node's CPU per message.
 */
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { attribute } from "./attribution.js";
import { runLoad, type LoadOptions, type LoadResult } from "./load-generator.js";
import { cpuSeconds, sample } from "./process-stats.js";
import type { RunningTarget } from "./targets.js";

/** The phases, in the order they run: the chats' prefix and what they are. */
export const BURST_PHASES = [
  { phase: "cold, new chats", prefix: "n" },
  { phase: "known chats", prefix: "n" },
  { phase: "warm, new chats", prefix: "w" },
  { phase: "known again", prefix: "w" },
] as const;

/** One phase on one target. */
export interface BurstRow {
  /** which run of the scenario (1-based): each starts its targets afresh */
  run: number;
  target: string;
  phase: (typeof BURST_PHASES)[number]["phase"];
  sent: number;
  received: number;
  lost: number;
  duplicates: number;
  /** from the first send to the last reply */
  seconds: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU of the node (or the baseline worker) per message of the phase */
  cpuMsPerMessage: number;
  /** CPU of nats-server per message of the phase */
  natsCpuMsPerMessage: number;
  /** Claw: where the phase's slowest messages spent their time */
  attribution?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the four phases against `target` (started fresh by the caller, stopped by it). */
export async function runBurst(target: RunningTarget, sessions: number, rate: number, run = 1): Promise<BurstRow[]> {
  const nc = await connect({ servers: target.nats.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const pids = [...target.workers.map((w) => w.pid!), target.nats.pid!];
  const rows: BurstRow[] = [];
  try {
    for (const { phase, prefix } of BURST_PHASES) {
      target.slowTurns?.clear();
      const load: LoadOptions = {
        mode: { kind: "open", rate },
        // one message to each chat: the last is due just before the end
        durationS: sessions / rate + 0.01,
        maxMessages: sessions,
        sessions,
        chatPrefix: prefix,
        payloadBytes: 300,
        graceS: 60,
      };
      process.stderr.write(`sessions-burst: ${target.name}: ${phase} …\n`);
      const before = await Promise.all(pids.map(sample));
      const r: LoadResult = await runLoad(nc, js, jsm, target, load);
      const after = await Promise.all(pids.map(sample));
      // the node logs a turn once its snapshot is written, just after the reply left
      if (target.slowTurns) await sleep(500);
      const nodeCpu = pids.slice(0, -1).reduce((s, _, i) => s + cpuSeconds(before[i], after[i]), 0);
      const natsCpu = cpuSeconds(before.at(-1), after.at(-1));
      const per = (cpuS: number) => Math.round(((cpuS * 1000) / Math.max(1, r.received)) * 1000) / 1000;
      rows.push({
        run,
        target: target.name,
        phase,
        sent: r.sent,
        received: r.received,
        lost: r.lost,
        duplicates: r.duplicates,
        seconds: r.seconds,
        p50Ms: r.latencyMs.p50,
        p90Ms: r.latencyMs.p90,
        p99Ms: r.latencyMs.p99,
        maxMs: r.latencyMs.max,
        cpuMsPerMessage: per(nodeCpu),
        natsCpuMsPerMessage: per(natsCpu),
        attribution: target.slowTurns ? attribute(r, target.slowTurns) : undefined,
      });
      // a breath between phases: what the last one left (acks, snapshot writes) is not the next one's
      await sleep(1_000);
    }
  } finally {
    await nc.close();
  }
  return rows;
}

/** The p99 ratios the targets are about. */
interface BurstRatio {
  coldNewOverKnownP99: number;
  warmNewOverKnownP99: number;
}

/** The middle value (the mean of the two middle ones for an even count). */
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * The ratios the targets are about, per target and run: cold new ÷ warm known p99, warm new ÷ known p99,
 * each run's in run order, and their median over the runs.
 */
export function burstRatios(rows: BurstRow[]): Record<string, { [K in keyof BurstRatio]: number[] } & { median: BurstRatio }> {
  const out: Record<string, { [K in keyof BurstRatio]: number[] } & { median: BurstRatio }> = {};
  const r2 = (x: number) => Math.round(x * 100) / 100;
  for (const target of new Set(rows.map((r) => r.target))) {
    const cold: number[] = [];
    const warm: number[] = [];
    for (const run of [...new Set(rows.filter((r) => r.target === target).map((r) => r.run))].sort((a, b) => a - b)) {
      const at = (phase: BurstRow["phase"]) => rows.find((r) => r.target === target && r.run === run && r.phase === phase)!;
      const known = at("known again").p99Ms || 1;
      cold.push(r2(at("cold, new chats").p99Ms / known));
      warm.push(r2(at("warm, new chats").p99Ms / known));
    }
    out[target] = {
      coldNewOverKnownP99: cold,
      warmNewOverKnownP99: warm,
      median: { coldNewOverKnownP99: r2(median(cold)), warmNewOverKnownP99: r2(median(warm)) },
    };
  }
  return out;
}
