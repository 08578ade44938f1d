/**
 * How many connections the gateway holds at once (`CLAW_HTTP_MAX_CONNECTIONS`).
 * Every connection is a file descriptor; a flood of them must not take the
 * ones the node needs for NATS, its files and its sandboxes. Past the limit
 * a new connection is closed as soon as it is accepted; one that says
 * nothing gives its slot back after the headers timeout (Node answers it
 * 408 and closes it), so silent connections cannot keep the slots from
 * health probes and real clients for long.
 */
import { readFileSync } from "node:fs";

/** The default when the open-file limit cannot be read. */
const FALLBACK = 4_096;
/** The default never goes above this: more is a deliberate choice. */
const CEILING = 10_000;

/** The process' open-file limit (Linux `/proc/self/limits`), undefined when it cannot be read. */
export function openFileLimit(read: () => string = () => readFileSync("/proc/self/limits", "utf8")): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(read());
    if (!m) return undefined;
    return m[1] === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Half the open-file limit `limit` ({@link openFileLimit}), at most 10,000 (4,096 when it is unknown): the other half stays the node's. */
export function defaultMaxConnections(limit: number | undefined): number {
  if (limit === undefined) return FALLBACK;
  return Math.max(16, Math.min(CEILING, Math.floor(limit / 2)));
}
