/**
 * One probe of the bus: a PONG from the server, then one small JetStream
 * write, each within a bound. A stalled server keeps the TCP connection open,
 * and a connected one may refuse every write (its store is full) or have no
 * JetStream leader: only asking shows it.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { within } from "./delay.js";
import { isStorageFull } from "./retry.js";

/** What one probe found. */
export type ProbeOutcome =
  | { type: "ok"; detail?: undefined }
  | { type: "storage_full"; detail: string }
  | { type: "failed"; code: "nats_not_responding" | "jetstream_unavailable"; detail: string };

class ProbeTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what} took longer than ${ms} ms`);
    this.name = "ProbeTimeout";
  }
}

const detailOf = (e: unknown) => (e as Error)?.message ?? String(e);

/** Probes once: a PONG, then `write()` (a KV put), each slower than `timeoutMs` counting as failed. */
export async function probeBus(nc: Pick<NatsConnection, "rtt">, write: () => Promise<unknown>, timeoutMs: number): Promise<ProbeOutcome> {
  try {
    await within(nc.rtt(), timeoutMs, () => new ProbeTimeout("a PONG from the server", timeoutMs));
  } catch (e) {
    return { type: "failed", code: "nats_not_responding", detail: detailOf(e) };
  }
  try {
    await within(write(), timeoutMs, () => new ProbeTimeout("a JetStream write", timeoutMs));
  } catch (e) {
    if (isStorageFull(e)) return { type: "storage_full", detail: detailOf(e) };
    return { type: "failed", code: "jetstream_unavailable", detail: detailOf(e) };
  }
  return { type: "ok" };
}
