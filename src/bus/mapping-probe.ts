/**
 * Detects whether the connected NATS partitions raw inbound subjects
 * (DESIGN.md §2): publish a probe on core NATS and see where it lands.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { nuid } from "@nats-io/transport-node";
import { H } from "./headers.js";
import { chatPartition } from "./partition.js";
import { toHeaders } from "./publisher.js";
import { inboundSubject, parseInboundSubject, wildcards } from "./subjects.js";

/** The reserved channel name of probes; ingress acknowledges and drops them. */
export const PROBE_CHANNEL = "_claw_probe";

/** What the probe found. */
export type MappingProbeResult =
  | { kind: "mapped"; partitions: number }
  /** mapped, but not with Claw's partition count or hash: the node must not trust it */
  | { kind: "mismatch"; observed: number; expected: number }
  | { kind: "unmapped" };

/**
 * Publishes a few probes to `claw.in._claw_probe.<node>.<n>` and checks that each
 * arrives as `claw.in.<p>.…` with the partition this code computes.
 */
export async function probePartitionMapping(nc: NatsConnection, node: string, partitions: number, timeoutMs = 1_000): Promise<MappingProbeResult> {
  const nonce = nuid.next();
  const addrs = Array.from({ length: 4 }, (_, i) => ({ channel: PROBE_CHANNEL, account: node, chat: `${nonce}${i}` }));
  const mapped = nc.subscribe(wildcards.partitionedInboundOfChannel(PROBE_CHANNEL));
  const raw = nc.subscribe(wildcards.rawInboundOfChannel(PROBE_CHANNEL));
  const seen: Array<{ p?: number; chat: string }> = [];
  const collect = async (sub: typeof raw) => {
    for await (const m of sub) {
      const parsed = parseInboundSubject(m.subject);
      if (parsed && parsed.chat.startsWith(nonce)) seen.push({ p: parsed.partition, chat: parsed.chat });
      if (seen.length >= addrs.length) break;
    }
  };
  const done = Promise.race([collect(mapped), collect(raw), new Promise((r) => setTimeout(r, timeoutMs))]);
  await nc.flush();
  for (const a of addrs) nc.publish(inboundSubject(a), new Uint8Array(), { headers: toHeaders({ [H.probe]: "1" }) });
  await nc.flush();
  await done;
  mapped.unsubscribe();
  raw.unsubscribe();
  if (seen.length === 0 || seen.every((s) => s.p === undefined)) return { kind: "unmapped" };
  for (const s of seen) {
    const a = addrs.find((x) => x.chat === s.chat)!;
    const expected = chatPartition(a, partitions);
    if (s.p !== expected) return { kind: "mismatch", observed: s.p ?? -1, expected };
  }
  return { kind: "mapped", partitions };
}
