/**
 * The `promises` scenario: the timings the docs promise, each measured
 * `runs` times on real processes, as the integration tests see them but on
 * a machine doing nothing else — the tests check the same things with the
 * margins a loaded CI machine needs (test/support/timing.ts), so the
 * promises themselves are kept here:
 *
 * - first reply: a fresh node's answer to a message from a stock NATS client
 *   (publish → reply on `claw.out`), promised within 1 s;
 * - refusal while NATS is away: `POST /v1/messages` answered 503 once the
 *   node knows (its `/readyz` says 503), promised within 1 s;
 * - revocation: `claw keys revoke` → both nodes refuse the key, within 1 s;
 * - failover: a SIGKILLed node's partitions claimed by the others, within
 *   2.5 s (before its heartbeat, 3 s, expires);
 * - election: a SIGKILLed leader replaced, within 2.5 s (before its lease,
 *   3 s, expires);
 * - watch expiry: a live-view watch of 300 ms: when its last event came
 *   after the watch was made, while the watched session keeps working.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { actorEventSubject, sessionKey, WATCH_SUBJECT } from "../src/bus/index.js";
import { runCli } from "../test/support/claw-cli.js";
import { startClaw, type ClawProcess } from "../test/support/claw-node.js";
import { clusterView } from "../test/support/cluster.js";
import { natsServer } from "../test/support/nats-server.js";
import { latencyRecorder } from "./closed-loop.js";

/** One promise's measurements. */
export interface PromiseRow {
  promise: string;
  /** what the docs promise, ms */
  claimMs: number;
  n: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** runs over the claim */
  over: number;
}

const P = 64;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const body = (id: string, text: string) => new TextEncoder().encode(JSON.stringify({ id, text, sender: { id: "u" } }));

async function until<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function series(promise: string, claimMs: number, runs: number, once: () => Promise<number>): Promise<PromiseRow> {
  const rec = latencyRecorder();
  let over = 0;
  for (let i = 0; i < runs; i++) {
    const ms = await once();
    rec.record(ms);
    if (ms > claimMs) over++;
  }
  return { promise, claimMs, n: runs, ...rec.summary(), over };
}

/** Publish → reply, on a fresh node's first message. */
async function firstReply(): Promise<number> {
  await using nats = await natsServer();
  await using node = await startClaw({ env: { NATS_URL: nats.url } });
  void node;
  const nc = await connect({ servers: nats.url });
  const sub = nc.subscribe("claw.out.>", { max: 1 });
  await nc.flush();
  const t0 = performance.now();
  nc.publish("claw.in.bench.a.first", body("first-1", "hello"));
  for await (const _m of sub) break;
  const ms = performance.now() - t0;
  await nc.close();
  return ms;
}

/** `POST /v1/messages` while the node's nats-server is stopped (SIGSTOP), once `/readyz` says 503. */
async function refusal(): Promise<number> {
  await using nats = await natsServer();
  await using node = await startClaw({ env: { NATS_URL: nats.url } });
  process.kill(nats.pid!, "SIGSTOP");
  try {
    await until(
      async () => (await fetch(`http://127.0.0.1:${node.httpPort}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined))?.status === 503,
      "/readyz 503",
    );
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${node.httpPort}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ chat: "refused", text: "hello?", sender: { id: "u" } }),
      signal: AbortSignal.timeout(20_000),
    });
    const ms = performance.now() - t0;
    if (res.status !== 503) throw new Error(`refusal: answered ${res.status}`);
    return ms;
  } finally {
    process.kill(nats.pid!, "SIGCONT");
  }
}

/** `claw keys revoke` → both nodes answer 401 to the key. */
async function revocation(): Promise<number> {
  await using nats = await natsServer();
  const env = { NATS_URL: nats.url, CLAW_AUTH: "required" };
  await using a = await startClaw({ env: { ...env, CLAW_NODE_ID: "ra" } });
  await using b = await startClaw({ env: { ...env, CLAW_NODE_ID: "rb" } });
  const created = await runCli(["keys", "create", "--scopes", "agents:invoke:echo", "--json"], { NATS_URL: nats.url });
  const key = JSON.parse(created.stdout) as { id: string; key: string };
  const call = (n: ClawProcess) =>
    fetch(`http://127.0.0.1:${n.httpPort}/v1/agents/echo/invoke`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key.key}` },
      body: JSON.stringify({ text: "x" }),
    }).then((r) => r.status);
  for (const n of [a, b]) await until(async () => (await call(n)) === 200, "the key taken");
  const revoked = await runCli(["keys", "revoke", key.id], { NATS_URL: nats.url });
  if (revoked.code !== 0) throw new Error(`keys revoke: ${revoked.stderr}`);
  // from the revocation's end: the CLI's own start-up is not the nodes' doing
  const t0 = performance.now();
  for (const n of [a, b]) await until(async () => (await call(n)) === 401, "the key refused");
  return performance.now() - t0;
}

/** Three nodes; one (the leader when `leader`, else a follower) SIGKILLed: until its partitions are claimed by others, or another leads. */
async function failover(leader: boolean): Promise<number> {
  await using nats = await natsServer();
  const nodes = new Map<string, ClawProcess>();
  try {
    for (const id of ["n1", "n2", "n3"]) nodes.set(id, await startClaw({ env: { NATS_URL: nats.url, CLAW_NODE_ID: id } }));
    const nc: NatsConnection = await connect({ servers: nats.url });
    const view = await clusterView(jetstream(nc));
    const before = await view.settled(["n1", "n2", "n3"], P);
    const boss = (await view.leader())!;
    const victim = leader ? boss : [...nodes.keys()].find((n) => n !== boss)!;
    const theirs = before.owners.flatMap((o, p) => (o === victim ? [p] : []));
    const t0 = performance.now();
    await nodes.get(victim)!.kill("SIGKILL");
    if (leader)
      await until(async () => {
        const l = await view.leader();
        return l !== undefined && l !== victim;
      }, "a new leader");
    else
      await until(async () => {
        const claims = await view.claims(P);
        return theirs.every((p) => claims[p] !== undefined && claims[p] !== victim);
      }, "the partitions claimed");
    const ms = performance.now() - t0;
    await nc.close();
    return ms;
  } finally {
    await Promise.all([...nodes.values()].map((n) => n.kill("SIGKILL")));
  }
}

/** A 300 ms watch of a session that keeps working: ms from the watch to its last event. */
async function watchExpiry(node: ClawProcess, nc: NatsConnection, i: number): Promise<number> {
  const chat = `watched-${i}`;
  const key = sessionKey("echo", `bench:a:${chat}`);
  nc.publish(`claw.in.bench.a.${chat}`, body(`${chat}-0`, "wake up"));
  await sleep(200);
  let last = 0;
  const sub = nc.subscribe(actorEventSubject("session", key), { callback: () => void (last = performance.now()) });
  await nc.flush();
  const t0 = performance.now();
  nc.publish(WATCH_SUBJECT, JSON.stringify({ kind: "session", id: key, ttlMs: 300 }));
  // a message every 50 ms for 1.5 s: events until the watch lapses, none after
  for (let k = 1; k <= 30; k++) {
    nc.publish(`claw.in.bench.a.${chat}`, body(`${chat}-${k}`, String(k)));
    await sleep(50);
  }
  await sleep(300);
  sub.unsubscribe();
  void node;
  return last === 0 ? 0 : last - t0;
}

/** Runs the scenario: each promise `runs` times. */
export async function runPromises(runs: number): Promise<PromiseRow[]> {
  const rows: PromiseRow[] = [];
  rows.push(await series("first reply (publish → reply, fresh node)", 1_000, runs, firstReply));
  rows.push(await series("503 while NATS is away (POST /v1/messages)", 1_000, runs, refusal));
  rows.push(await series("revoked key refused by both nodes", 1_000, runs, revocation));
  rows.push(await series("failover: a killed node's partitions claimed", 2_500, runs, () => failover(false)));
  rows.push(await series("election: a killed leader replaced", 2_500, runs, () => failover(true)));
  {
    await using nats = await natsServer();
    await using node = await startClaw({ env: { NATS_URL: nats.url } });
    const nc = await connect({ servers: nats.url });
    let i = 0;
    // the claim: no event later than the ttl (300 ms) plus one turn (the last one begun before it lapsed)
    rows.push(await series("watch of 300 ms: its last event after", 400, runs, () => watchExpiry(node, nc, i++)));
    await nc.close();
  }
  return rows;
}
