/**
 * The node's logger: pino JSON lines on stdout.
 */
import { pino, type Logger } from "pino";

export type { Logger };

/** Creates the node logger; every line carries the node id. */
export function createLogger(level: string, nodeId: string): Logger {
  return pino({ level, base: { node: nodeId }, timestamp: pino.stdTimeFunctions.isoTime });
}
