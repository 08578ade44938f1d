/**
 * Partitioning: which partition a chat (or a session) belongs to.
 *
 * Inbound messages are partitioned by the NATS server itself through an account
 * subject mapping, so the partition is fixed at publish time whoever publishes.
 * The same function is computed here for the places where a node must know it
 * (forwarding to a session's own partition, the fallback router).
 *
 * nats-server's `partition(n, …)` hashes the selected wildcard tokens,
 * concatenated without separator, with FNV-1a 32-bit and takes it modulo n.
 * `test/integration/partitioning.test.ts` checks this against a real server.
 *
 * @see https://docs.nats.io/nats-concepts/subject_mapping#deterministic-subject-token-partitioning
 */
import { encodeToken, inboundPartitionMapping, type ChatAddress } from "./subjects.js";

/** Default number of partitions (fixed per cluster). */
export const DEFAULT_PARTITIONS = 64;

const encoder = new TextEncoder();

/** FNV-1a, 32 bit, over the UTF-8 bytes of `input`. */
export function fnv1a32(input: string): number {
  let h = 0x811c9dc5;
  for (const byte of encoder.encode(input)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The partition the server's mapping assigns to a chat's inbound subject. */
export function chatPartition(a: ChatAddress, partitions: number): number {
  return fnv1a32(encodeToken(a.channel) + encodeToken(a.account) + encodeToken(a.chat)) % partitions;
}

/** The partition of a session key that is not scoped to one chat (e.g. one session per sender). */
export function keyPartition(key: string, partitions: number): number {
  return fnv1a32(key) % partitions;
}

/**
 * The nats-server configuration block that partitions raw inbound subjects.
 * Shipped in `nats/*.conf` and written into the embedded server's config.
 */
export function partitionMappingConf(partitions: number): string {
  const { from, to } = inboundPartitionMapping(partitions);
  return `mappings = {\n  "${from}": "${to}"\n}\n`;
}
