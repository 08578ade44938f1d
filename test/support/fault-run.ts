/**
 * The shape every fault-injection test shares: a node under steady load, a
 * fault injected and healed, then the check that nothing accepted was lost,
 * duplicated or reordered, that readiness said so while it lasted, and a
 * line with the measured times (collected into bench/RESULTS.md).
 */
import { expect } from "vitest";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { checkReplies, pollReadiness, readinessStory, startSteadyLoad, type ReadinessStory, type ReplyCheck, type SteadyLoad } from "./steady-load.js";
import { loaded } from "./timing.js";

/** A client that rides out the server's restarts and stalls, as an outside publisher would. */
export async function patientClient(url: string) {
  const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 5_000 });
  return { nc, js: jetstream(nc, { timeout: 2_000 }), jsm: await jetstreamManager(nc, { timeout: 5_000 }), [Symbol.asyncDispose]: () => nc.close() };
}

/** Messages per second and chats of the steady load every fault test runs under. */
export const FAULT_LOAD = { rate: 50, chats: 20 };

/** What a fault run measured. */
export interface FaultRun {
  load: SteadyLoad;
  check: ReplyCheck;
  readiness: ReadinessStory;
  faultAt: number;
  healedAt: number;
}

/** Options of {@link runUnderFault}. */
export interface FaultRunOptions {
  name: string;
  /** publishes the load (a client of the server the node uses, or of another path to it) */
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** the node whose readiness is polled */
  httpPort: number;
  /** ms of load before the fault, and after it is healed */
  beforeMs?: number;
  afterMs?: number;
  /** injects the fault; resolves when it is in place */
  inject(): Promise<void>;
  /** runs while the fault lasts (checks of the node's behaviour during it) */
  during?(): Promise<void>;
  /** heals it (or waits until the node has); resolves when healed */
  heal(): Promise<void>;
  load?: Partial<typeof FAULT_LOAD>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a load through a fault and checks it; prints `fault <name>: {json}`. */
export async function runUnderFault(o: FaultRunOptions): Promise<FaultRun> {
  const readiness = pollReadiness(o.httpPort);
  const load = startSteadyLoad(o.js, { ...FAULT_LOAD, ...o.load, prefix: o.name });
  await sleep(o.beforeMs ?? 2_000);
  const faultAt = Date.now();
  await o.inject();
  await o.during?.();
  await o.heal();
  const healedAt = Date.now();
  await sleep(o.afterMs ?? 3_000);
  await load.stop();
  const check = await checkReplies(o.jsm, load);
  // readiness until everything is answered: it must have come back by now
  const story = readinessStory(readiness.stop(), faultAt, healedAt);
  const run = { load, check, readiness: story, faultAt, healedAt };
  console.log(
    `fault ${o.name}: ${JSON.stringify({
      accepted: load.accepted.length,
      answered: check.answered,
      lost: check.missing.length,
      duplicated: check.duplicated.length,
      outOfOrder: check.outOfOrder.length,
      faultMs: healedAt - faultAt,
      notReadyAfterMs: story.notReadyAfterMs,
      readyAgainAfterMs: story.readyAgainAfterMs,
      // when the last message accepted before the fault was healed had its reply
      backlogAnsweredAfterMs: Math.max(0, ...load.accepted.filter((m) => m.acceptedAt < healedAt).map((m) => (check.answeredAt.get(m.id) ?? 0) - healedAt)),
      worstReplyMs: check.worstMs,
      reasons: story.reasons,
    })}`,
  );
  return run;
}

/** Nothing accepted was lost, dead-lettered, answered twice or out of order. */
export function expectNothingLost(r: FaultRun): void {
  expect(r.load.accepted.length).toBeGreaterThan(100);
  expect(r.check.missing, "accepted and never answered").toEqual([]);
  expect(r.check.failed, "dead-lettered").toEqual([]);
  expect(r.check.duplicated, "answered twice").toEqual([]);
  expect(r.check.outOfOrder, "chats answered out of order").toEqual([]);
  expect(r.check.answered).toBe(r.load.accepted.length);
}

/** Readiness went 503 (for one of `reasons`) during the fault and back to 200 after it. */
export function expectHonestReadiness(r: FaultRun, reasons: RegExp): void {
  expect(r.readiness.notReadyAfterMs, "never answered 503 during the fault").toBeDefined();
  expect(
    r.readiness.reasons.some((x) => reasons.test(x)),
    `reasons given: ${r.readiness.reasons.join(", ")}`,
  ).toBe(true);
  expect(r.readiness.readyAgainAfterMs, "not ready again after the fault").toBeDefined();
  expect(r.readiness.last?.status).toBe(200);
}

/** Waits until the node's `/readyz` answers 503 (the node has noticed the fault). */
export async function untilNotReady(httpPort: number, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
    if (res?.status === 503) return ((await res.json()) as { reasons: string[] }).reasons;
    if (Date.now() > deadline) throw new Error(`/readyz did not answer 503 within ${timeoutMs} ms of the fault`);
    await sleep(100);
  }
}

/** A message posted while NATS is unavailable is refused at once: 503, `Retry-After`, the error shape. */
export async function expectFastRefusal(httpPort: number, code: "unavailable" | "storage_full"): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${httpPort}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ chat: "refused", text: "hello?", sender: { id: "u" } }),
    signal: AbortSignal.timeout(10_000),
  });
  const ms = performance.now() - t0;
  expect(res.status).toBe(503);
  expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message).toMatch(/retry/);
  // 1 s promised (bench promises); a hang is the 10 s abort above
  expect(ms, "refused fast, not after a hang").toBeLessThan(loaded(1_000));
  return ms;
}
