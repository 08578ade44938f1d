/**
 * The slowest messages' breakdown, from the `slow turn` lines of the node(s)
 * that answered them (`CLAW_SLOW_TURN_MS`).
 */
import type { LoadResult } from "./load-generator.js";
import type { SlowTurn } from "./targets.js";

/**
 * Where the slowest messages spent their time, from their nodes' `slow turn`
 * lines: pickup (stored in CLAW_IN → taken by the node), the session queue,
 * each effect, the snapshot write, the rest of the turn, and outside the node
 * (the generator's latency minus the node's end to end: publish → stored, and
 * the reply's way back). The reply is published before the snapshot is
 * written: a snapshot delays the client only through the queue of the
 * session's next message.
 */
export function attribute(r: LoadResult, slow: Map<string, SlowTurn>): string {
  const parts = (t: SlowTurn, latencyMs: number) => {
    const effects = t.timing?.effects ?? {};
    const effectMs = Object.values(effects).reduce((a, b) => a + b, 0);
    const queue = t.timing?.queueMs ?? 0;
    const snapshot = t.timing?.snapshotMs ?? 0;
    const load = t.timing?.spawn?.loadMs ?? 0;
    const create = t.timing?.spawn?.createMs ?? 0;
    return {
      pickup: t.pickupMs,
      queue,
      ...(t.timing?.spawn ? { "kv load": load, "actor create": create } : {}),
      ...effects,
      [t.timing?.firstSnapshot ? "first snapshot" : "snapshot"]: snapshot,
      "turn rest": Math.max(0, t.sessionMs - queue - load - create - effectMs - snapshot),
      outside: Math.max(0, latencyMs - t.endToEndMs),
    } as Record<string, number>;
  };
  const fmt = (o: Record<string, number>) =>
    Object.entries(o)
      .map(([k, v]) => `${k} ${Math.round(v)}`)
      .join(", ");
  const lines = r.slowest.slice(0, 10).map((m) => {
    const t = slow.get(m.id);
    return `  ${m.latencyMs} ms ${m.chat}: ${t ? fmt(parts(t, m.latencyMs)) : "(not logged by its node)"}`;
  });
  // shares over every logged turn at or above the run's p99
  const tail = [...slow.values()].filter((t) => t.endToEndMs >= r.latencyMs.p99);
  const sum: Record<string, number> = {};
  // (outside the node is not in the node's lines: the shares are of the node's own time)
  for (const t of tail) for (const [k, v] of Object.entries(parts(t, t.endToEndMs))) if (k !== "outside") sum[k] = (sum[k] ?? 0) + v;
  const total = Object.values(sum).reduce((a, b) => a + b, 0) || 1;
  const shares = Object.entries(sum)
    .map(([k, v]) => `${k} ${Math.round((100 * v) / total)} %`)
    .join(", ");
  return (
    `slowest messages (ms): where their time went\n${lines.join("\n")}\n  the ${tail.length} turns at or above p99 (${r.latencyMs.p99} ms) in ` +
    `the node: ${shares}`
  );
}
