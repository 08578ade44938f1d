/**
 * A skill as the node runs it in process: an id and version, what it does,
 * the JSON Schema of its input, and the function. (Sandboxed runtimes —
 * processes, bubblewrap, containers — plug in behind the same shape.)
 */

/** What a running skill is given besides its input. */
export interface SkillContext {
  /** aborted at the invocation's deadline */
  signal: AbortSignal;
  /** ms since epoch */
  deadline: number;
}

/** A skill that runs in the node's process. */
export interface Skill {
  id: string;
  /** semver */
  version: string;
  description: string;
  /** JSON Schema of the input (an object schema) */
  input: Record<string, unknown>;
  run(input: unknown, ctx: SkillContext): Promise<unknown>;
}

/** A skill failure with a stable code (`timeout`, `invalid_input`, `exit`, `unknown_skill`, …). */
export class SkillFailure extends Error {
  override readonly name = "SkillFailure";
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
