/**
 * Skips that cannot hide under CI. `.ci/run` installs every tool the tests
 * use and runs with `CI` set, so there a test whose tool is missing or does
 * not answer is a failure of the run, never a skip that counts as passed.
 * On a developer's machine the same test is skipped with a warning that
 * says what to install.
 */

/** Whether this run is CI's (`CI` set to anything but `false`/`0`, as CI systems and `.ci/run` do). */
export const UNDER_CI = !!process.env.CI && !["false", "0"].includes(process.env.CI.toLowerCase());

/** Thrown under CI where a test would otherwise have been skipped. */
export class MissingUnderCiError extends Error {
  readonly code = "missing_under_ci";
  constructor(what: string, reason: string) {
    super(
      `${what} cannot run: ${reason}. Under CI (CI=${process.env.CI}) every test must run: .ci/run installs what the tests need, so this is a ` +
        `failure, not a skip`,
    );
    this.name = "MissingUnderCiError";
  }
}

/**
 * Decides whether the tests of `what` are skipped for want of a tool.
 * Returns false when `reason` is undefined (nothing missing: run them);
 * outside CI warns with the reason and returns true (skip them); under CI
 * throws {@link MissingUnderCiError}, which fails the file where it is
 * collected. Pass the result to `describe.skipIf` / `it.skipIf`.
 */
export function skipWithout(what: string, reason: string | undefined): boolean {
  if (reason === undefined) return false;
  if (UNDER_CI) throw new MissingUnderCiError(what, reason);
  console.warn(`${what}: skipped here: ${reason}`);
  return true;
}
