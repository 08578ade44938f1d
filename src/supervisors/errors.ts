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
