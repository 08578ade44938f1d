/**
 * Runs a node as the process: loads the configuration, starts the node, and
 * stops it gracefully on SIGTERM/SIGINT (a second signal exits at once).
 */
import { loadConfig } from "../config.js";
import { createLogger } from "../log.js";
import { startNode, type ClawNode } from "../supervisors/index.js";
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
  // a signal while the node still starts (waiting for its NATS cluster to form) ends the wait
  const starting = new AbortController();
  let node: ClawNode | undefined;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn({ signal: sig }, "second signal: exiting now");
      process.exit(130);
    }
    if (!node) {
      log.info({ signal: sig }, "told to stop while starting");
      return starting.abort();
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
  try {
    node = await startNode(config, log, { signal: starting.signal });
  } catch (e) {
    if (starting.signal.aborted) {
      log.info("stopped before it had started");
      process.exit(0);
    }
    log.fatal({ err: e }, "claw node failed to start");
    process.stderr.write(`claw: ${describeError(e)}\n`);
    process.exit(1);
  }
  // told to stop after the last wait of the start: stop now that there is a node to stop
  if (starting.signal.aborted) {
    signals = 0;
    onSignal("SIGTERM");
  }
}
