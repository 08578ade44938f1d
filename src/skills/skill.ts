/**
 * What a node runs skills as: a descriptor (skill.json) resolved from the
 * registry, run by the sandbox driver of its runtime — or, for Claw's own
 * built-ins (runtime `builtin`), by a function in the node's process.
 */
import type { SkillError, SkillInvocation } from "../bus/index.js";
import type { SkillDescriptor } from "./descriptor.js";

/** What an in-process skill is given besides its input. */
export interface SkillContext {
  /** aborted at the invocation's deadline, or when it is cancelled */
  signal: AbortSignal;
  /** ms since epoch */
  deadline: number;
  /** the invocation as its caller published it: its id (the same when its caller's turn runs again), the calling session's mailbox and
   * session (`<agent>.<session>`) and chat when a session called, its trace and depth */
  invocation: SkillInvocation;
}

/** One of Claw's own skills, run in the node's process (runtime `builtin`). */
export interface BuiltinSkill {
  /** its descriptor as registered (`runtime: "builtin"`) */
  descriptor: Record<string, unknown> & { id: string; version: string; runtime: "builtin" };
  run(input: unknown, ctx: SkillContext): Promise<unknown>;
}

/** The skills an agent's tools are resolved from. */
export interface SkillCatalog {
  list(): SkillDescriptor[];
  /** the highest version of `id` within `range` (`*`: any) */
  resolve(id: string, range?: string): SkillDescriptor | undefined;
}

/** A skill failure with a stable code (`timeout`, `invalid_input`, `exit`, `denied`, …). */
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

/** A failure as the caller is told it (`tool.result`'s `error`). */
export const skillError = (code: string, message: string): SkillError => ({ code, message });

/** A run ends this long before its caller's deadline: time to publish the result. */
export const DEADLINE_MARGIN_MS = 300;
