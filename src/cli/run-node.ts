/**
 * Runs a node as the process: loads the configuration, starts the node, and
 * stops it gracefully on SIGTERM/SIGINT (a second signal exits at once).
 */
import { loadConfig } from "../config.js";
import { createLogger } from "../log.js";
import { startNode } from "../supervisors/index.js";
import { describeError } from "./describe-error.js";

/** Starts a node in this process and keeps it running until a signal. */
export async function runNodeProcess(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    process.stderr.write(`claw: ${describeError(e)}\n`);
    process.exit(2);
  }
  const log = createLogger(config.logLevel, config.nodeId);
  let node;
  try {
    node = await startNode(config, log);
  } catch (e) {
    log.fatal({ err: e }, "claw node failed to start");
    process.stderr.write(`claw: ${describeError(e)}\n`);
    process.exit(1);
  }
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn({ signal: sig }, "second signal: exiting now");
      process.exit(130);
    }
    log.info({ signal: sig }, "shutting down");
    node.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: e }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
