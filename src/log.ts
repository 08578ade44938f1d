/**
 * The node's logger: pino JSON lines on stdout, or readable lines through
 * pino-pretty when stdout is a terminal (`CLAW_LOG_FORMAT=json` keeps JSON).
 */
import { pino, type Logger } from "pino";

export type { Logger };

/** Creates the node logger; every line carries the node id. */
export function createLogger(level: string, nodeId: string, pretty = process.stdout.isTTY === true && process.env.CLAW_LOG_FORMAT !== "json"): Logger {
  return pino({
    level,
    base: { node: nodeId },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(pretty
      ? { transport: { target: "pino-pretty", options: { colorize: true, singleLine: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" } } }
      : {}),
  });
}
