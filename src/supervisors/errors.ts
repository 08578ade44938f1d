/**
 * Failures of the supervisors' read side that callers (the CLI) branch on.
 */

/** The NATS answering has no Claw cluster: its KV buckets do not exist (no node has started against it). */
export class NoClusterError extends Error {
  override readonly name = "NoClusterError";
  readonly code = "no_cluster";
  constructor(
    readonly bucket: string,
    options?: ErrorOptions,
  ) {
    super(`no Claw cluster on this NATS: KV bucket ${bucket} does not exist. Start a node (claw start), or point NATS_URL at the cluster's servers.`, options);
  }
}

/** The embedded nats-server process ended without being asked to. */
export class NatsServerExitedError extends Error {
  override readonly name = "NatsServerExitedError";
  readonly code = "nats_server_exited";
  /** @param output the server's own explanation (its fatal lines), if any */
  constructor(
    readonly exit: { code: number | null; signal: string | null },
    output: string,
  ) {
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    // a server that stopped by itself says why in its last lines; a killed one says nothing useful
    const why = exit.signal ? "" : output;
    super(`the embedded nats-server ${how}${why ? `: ${why}` : ""}`);
  }
}
