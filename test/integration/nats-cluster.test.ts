import { describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { publishDurable, startNatsCluster, STREAMS } from "../../src/bus/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { jsonBody, readStream } from "../support/replies.js";

/** How one raft group (a stream's or a consumer's) stands: its leader and how many replicas are current. */
function quorum(c: { leader?: string; replicas?: Array<{ name: string; current: boolean; offline?: boolean }> } | undefined): string {
  if (!c?.leader) return "no leader";
  const current = (c.replicas ?? []).filter((r) => r.current && !r.offline).map((r) => r.name);
  return `leader ${c.leader}, current ${[c.leader, ...current].join("+")}${current.length === 0 ? " (NO QUORUM)" : ""}`;
}

/** The raft groups (streams and their consumers) of Claw's mailboxes without a quorum: they stall until a server returns. */
async function withoutQuorum(jsm: JetStreamManager): Promise<string[]> {
  const stalled: string[] = [];
  for (const stream of [STREAMS.in, STREAMS.sessions, STREAMS.out]) {
    const info = await jsm.streams.info(stream).catch(() => undefined);
    if (!info || quorum(info.cluster).includes("NO QUORUM") || !info.cluster?.leader) stalled.push(stream);
    for await (const c of jsm.consumers.list(stream)) {
      const q = quorum(c.cluster);
      if (q.includes("NO QUORUM") || !c.cluster?.leader) stalled.push(`${stream}/${c.name}: ${q}`);
    }
  }
  return stalled;
}

/** What a stall looks like from outside: stream counts, consumers with work left and their quorum, the nodes' warnings. */
async function diagnose(jsm: JetStreamManager, nodes: ClawProcess[], collected: number): Promise<void> {
  const out = await jsm.streams.info(STREAMS.out).catch((e: unknown) => String(e));
  console.log(
    `R3 stall: ${collected >= 0 ? `${collected} replies collected; ` : ""}CLAW_OUT ` +
      `${typeof out === "string" ? out : `${out.state.messages} messages, ${quorum(out.cluster)}`}`,
  );
  for (const stream of [STREAMS.in, STREAMS.sessions, STREAMS.out]) {
    for await (const c of jsm.consumers.list(stream)) {
      if (c.num_pending > 0 || c.num_ack_pending > 0 || c.num_waiting === 0)
        console.log(
          `  ${stream}/${c.name}: pending ${c.num_pending}, ack pending ${c.num_ack_pending}, waiting pulls ${c.num_waiting}, redelivered ` +
            `${c.num_redelivered}, ${quorum(c.cluster)}`,
        );
    }
  }
  for (const n of nodes) {
    const lines = n.logs.filter((l) => Number(l.level) >= 40);
    console.log(
      `  node ${String(n.logs[0]?.node ?? "?")}: ${lines.length} warnings/errors, last:\n${lines
        .slice(-15)
        .map((l) => `    ${JSON.stringify(l)}`)
        .join("\n")}`,
    );
  }
}

describe("Claw on a 3-server NATS cluster (R3)", () => {
  it("loses nothing and duplicates nothing when a server, then the stream leader, is SIGKILLed", async () => {
    const t0 = Date.now();
    const phase = (what: string) => console.log(`R3 +${Date.now() - t0} ms: ${what}`);
    const servers = await startNatsCluster(3);
    const url = servers.map((s) => s.url).join(",");
    const nodes: ClawProcess[] = [];
    try {
      for (const id of ["n1", "n2"]) nodes.push(await startClaw({ env: { NATS_URL: url, CLAW_NODE_ID: id, CLAW_REPLICAS: "3" }, timeoutMs: 40_000 }));
      phase("2 Claw nodes started");
      const nc = await connect({ servers: url.split(",") });
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      expect((await jsm.streams.info(STREAMS.in)).config.num_replicas).toBe(3);
      const sessions = 60;
      const perSession = 8;
      const accepted: string[] = [];
      const kills: string[] = [];
      let leaderVictim: (typeof servers)[number] | undefined;
      for (let i = 0; i < perSession; i++) {
        for (let s = 0; s < sessions; s += 20) {
          await Promise.all(
            Array.from({ length: 20 }, (_, k) => {
              const id = `c${s + k}-${i}`;
              // publishers retry timeouts and 503s while a stream leader is elected, with the msg id so retries don't duplicate
              return publishDurable(js, { subject: `claw.in.r3.a.c${s + k}`, data: jsonBody({ id, text: String(i), sender: { id: "u" } }), msgId: id }).then(
                () => accepted.push(id),
              );
            }),
          );
          if (accepted.length === 120 && kills.length === 0) {
            await servers[0]!.kill("SIGKILL");
            kills.push("s1");
            phase("s1 killed");
          }
          if (accepted.length === 300 && kills.length === 1) {
            // bring the first server back and let it catch up (every stream and consumer current),
            // so two of three stay up and current after the next kill: a quorum that survives it
            await servers[0]!.restart();
            // nats-server 2.9 sometimes reports an idle consumer "not current" on a restarted server
            // for minutes; its streams have caught up by then, so go on after a bounded wait. The bound is
            // long: with the whole suite on two cores a busy consumer took more than 45 s to catch up, and
            // killing the leader before it has leaves that consumer one current replica (no quorum)
            await servers[0]!
              .waitHealthy(100_000)
              .then(() => phase("s1 back and current"))
              .catch((e: unknown) => phase(`s1 back, not all current: ${(e as Error).message}`));
            const leader = (await jsm.streams.info(STREAMS.in)).cluster?.leader;
            const victim = servers.find((_, n) => `s${n + 1}` === leader);
            if (victim) {
              leaderVictim = victim;
              await victim.kill("SIGKILL");
              kills.push(leader!);
              phase(`stream leader ${leader} killed`);
            }
          }
        }
      }
      phase("all accepted");
      expect(kills).toHaveLength(2);
      // what counts is what CLAW_OUT holds: every reply durably published once, in order per chat.
      // (a live reader of CLAW_OUT that lived through the kills is itself subject to the servers'
      // recovery — on nats-server 2.9 we saw such a consumer stop delivering while the stream held every reply)
      const replies = await readStream(jsm, STREAMS.out, "claw.out.r3.>", accepted.length, 60_000).catch(async (e: unknown) => {
        await diagnose(jsm, nodes, -1);
        // a raft group left with one current replica (the restarted server had not caught up on it when the
        // leader was killed: nats-server 2.9 can take minutes) waits for a server, by design, and loses
        // nothing: bring the killed one back and read again — to the end, so a loss or a duplicate still fails.
        // A stall with every group in quorum is Claw's, and fails here.
        const stalled = await withoutQuorum(jsm);
        if (stalled.length === 0 || !leaderVictim) throw e;
        phase(`stalled without quorum (${stalled.join("; ")}): restarting the killed leader`);
        await leaderVictim.restart();
        return readStream(jsm, STREAMS.out, "claw.out.r3.>", accepted.length, 90_000).catch(async (e2: unknown) => {
          await diagnose(jsm, nodes, -1);
          throw e2;
        });
      });
      phase("all answered");
      const ids = replies.map((r) => r.replyTo!);
      expect(new Set(ids).size).toBe(accepted.length);
      expect(ids.length).toBe(accepted.length);
      for (let s = 0; s < sessions; s++) {
        expect(
          replies.filter((r) => r.chat === `c${s}`).map((r) => r.text),
          `chat c${s}`,
        ).toEqual(Array.from({ length: perSession }, (_, i) => String(i)));
      }
      console.log(`R3: killed ${kills.join(", then the stream leader ")}; ${accepted.length} accepted, ${ids.length} answered once each`);
      await nc.close();
    } finally {
      await Promise.all(nodes.map((n) => n.kill("SIGKILL")));
      await Promise.all(servers.map((s) => s.stop()));
    }
  }, 300_000);
});
