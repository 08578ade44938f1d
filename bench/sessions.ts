/**
 * The `sessions` scenario: many distinct sessions on one node. Sends one
 * message to each of N chats (closed loop), then measures the node's memory
 * with every session live, waits for passivation, and measures again, with the
 * KV bytes each passivated session occupies.
 */
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { runLoad } from "./load-generator.js";
import { sample } from "./process-stats.js";
import { startClawTarget } from "./targets.js";
import { PASSIVATE_SUBJECT } from "../src/bus/index.js";

/** What the scenario measured. */
export interface SessionsResult {
  sessions: number;
  answered: number;
  rssBaseMB: number;
  rssLiveMB: number;
  rssPassivatedMB: number;
  /** V8 heap in use (from the node's /metrics): unlike RSS it shrinks when passivated sessions are collected */
  heapBaseMB: number;
  heapLiveMB: number;
  heapPassivatedMB: number;
  /** sessions live when memory was measured with all of them (claw_sessions_active) */
  activeLive: number;
  /** sessions the node reported live after passivation */
  activeAtEnd: number;
  liveBytesPerSession: number;
  /** heap per live session */
  liveHeapBytesPerSession: number;
  kvBytesPerPassivatedSession: number;
  passivatedAfterS: number;
}

/** Runs the scenario with `n` sessions and the given idle time before passivation. */
export async function runSessions(n: number, idleMs: number): Promise<SessionsResult> {
  // every session stays live until the scenario asks the node to passivate them (claw.ctl.passivate);
  // --expose-gc lets the node collect right after, so the heap shows what passivation frees
  const target = await startClawTarget(1, { CLAW_IDLE_MS: String(idleMs), CLAW_TRANSCRIPTS: "off" }, ["--expose-gc"]);
  try {
    const nc = await connect({ servers: target.nats.url });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const pid = target.workers[0]!.pid!;
    const metric = async (name: string): Promise<number> => {
      const text = await (await fetch(`${target.httpUrl}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
      return Number(line?.split(" ").pop() ?? Number.NaN);
    };
    const heap = () => metric("claw_nodejs_heap_size_used_bytes");
    const base = await sample(pid);
    const heapBase = await heap();
    // one message per session: the closed loop sends chat c0, c1, … c(n-1) once each
    const load = await runLoad(nc, js, jsm, target, {
      mode: { kind: "closed", window: 200 },
      durationS: 3600,
      sessions: n,
      payloadBytes: 100,
      graceS: 30,
      maxMessages: n,
    });
    const activeLive = await metric("claw_sessions_active");
    const live = await sample(pid);
    const heapLive = await heap();
    const t0 = Date.now();
    process.stderr.write(`  ${activeLive} sessions live; passivating them\n`);
    const reply = await nc.request(PASSIVATE_SUBJECT, JSON.stringify({ olderThanMs: 0 }), { timeout: 30_000 });
    process.stderr.write(`  ${reply.string()}\n`);
    await new Promise((r) => setTimeout(r, 2_000));
    const passivated = await sample(pid);
    const heapPassivated = await heap();
    const activeAtEnd = await metric("claw_sessions_active");
    const kv = await jsm.streams.info("KV_claw_sessions");
    await nc.close();
    const mb = (b: number | undefined) => Math.round(((b ?? 0) / 1024 / 1024) * 10) / 10;
    return {
      sessions: n,
      answered: load.received,
      rssBaseMB: mb(base?.rssBytes),
      rssLiveMB: mb(live?.rssBytes),
      rssPassivatedMB: mb(passivated?.rssBytes),
      heapBaseMB: mb(heapBase),
      heapLiveMB: mb(heapLive),
      heapPassivatedMB: mb(heapPassivated),
      activeAtEnd,
      activeLive,
      liveBytesPerSession: Math.round(((live?.rssBytes ?? 0) - (base?.rssBytes ?? 0)) / Math.max(1, activeLive)),
      liveHeapBytesPerSession: Math.round((heapLive - heapBase) / Math.max(1, activeLive)),
      kvBytesPerPassivatedSession: Math.round(kv.state.bytes / Math.max(1, kv.state.messages)),
      passivatedAfterS: Math.round((Date.now() - t0) / 1000),
    };
  } finally {
    await target.stop();
  }
}
