/**
 * Errors of the `claw` command line.
 */

/** The command line was not understood: `claw` prints the usage and exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly code = "usage";
}
