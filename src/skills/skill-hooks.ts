/**
 * Skill hooks: logic before and after an agent's tool calls, as ordinary
 * skills with a fixed contract. An agent names them (`hooks: {before, after}`
 * for every tool it calls, `hooks.skills.<id>` for one tool's calls); the
 * worker that runs the call runs them around it:
 * - a `before` hook gets `{skill, input, session, agent}` and answers
 *   `{input}` (the input to run with, possibly changed — checked against the
 *   skill's schema again) or `{deny: "reason"}` (the call does not run; the
 *   model reads `denied by <hook>: <reason>`);
 * - an `after` hook gets the same and `output`, and answers `{output}` (e.g.
 *   with secrets masked).
 * A hook that fails, times out or answers something else fails the call
 * closed (`hook_failed`): a hook guards, so its absence must not let a call
 * through. Which hooks apply is read from the calling session's agent, found
 * from its mailbox — nothing the model writes can choose or skip them.
 */
import { z } from "zod";
import { SkillFailure } from "./skill.js";

/** `"<skill id>"` or `"<skill id>@<semver range>"`, as an agent's `skills` list them. */
const HookRefSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,127}(@[^@\s]{1,64})?$/, "a skill id (lowercase letters, digits, . _ -), optionally @<semver range>");
const HookListsSchema = z
  .object({
    before: z.array(HookRefSchema).max(8).default([]),
    after: z.array(HookRefSchema).max(8).default([]),
  })
  .strict();

/** An agent's `hooks`: for every tool it calls, and per tool (`skills.<id>`, run after the agent-wide ones). */
export const AgentHooksSchema = HookListsSchema.extend({
  skills: z.record(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,127}$/, "a skill id"), HookListsSchema).default({}),
}).strict();
export type AgentHooks = z.infer<typeof AgentHooksSchema>;

/** The hooks that apply to one call. */
export interface CallHooks {
  before: readonly string[];
  after: readonly string[];
}

/** The hooks of `agent` for a call of `skill`: the agent-wide ones, then that skill's own. */
export function hooksFor(hooks: AgentHooks | undefined, skill: string): CallHooks {
  if (!hooks) return { before: [], after: [] };
  const own = hooks.skills[skill];
  return { before: [...hooks.before, ...(own?.before ?? [])], after: [...hooks.after, ...(own?.after ?? [])] };
}

/** What a hook is told of the call. */
export interface HookCall {
  skill: string;
  input: unknown;
  session?: string;
  agent: string;
}

/** Runs a hook skill (in process for a built-in, else on whichever node can) and answers its output. */
export type RunHook = (hook: string, input: unknown) => Promise<unknown>;

const BeforeAnswerSchema = z.union([z.object({ deny: z.string().max(2000) }).loose(), z.object({ input: z.unknown() }).loose()]);
const AfterAnswerSchema = z.object({ output: z.unknown() }).loose();

/** A hook's failure, as the call's: the call fails closed. */
function failed(hook: string, e: unknown): SkillFailure {
  if (e instanceof SkillFailure && e.code === "denied") return e;
  const why = e instanceof SkillFailure ? `${e.code}: ${e.message}` : ((e as Error)?.message ?? String(e));
  return new SkillFailure("hook_failed", `hook ${hook} failed, so the call did not go through: ${why}`);
}

/** The `before` hooks in order: the input to run with, or a `denied` failure thrown. */
export async function runBefore(hooks: readonly string[], call: HookCall, run: RunHook): Promise<unknown> {
  let input = call.input;
  for (const hook of hooks) {
    let answer: z.infer<typeof BeforeAnswerSchema>;
    try {
      const r = BeforeAnswerSchema.safeParse(await run(hook, { ...call, input }));
      if (!r.success) throw new Error('a before hook answers {"input": …} or {"deny": "reason"}');
      answer = r.data;
    } catch (e) {
      throw failed(hook, e);
    }
    if ("deny" in answer && typeof answer.deny === "string") throw new SkillFailure("denied", `denied by ${hook}: ${answer.deny}`);
    if ("input" in answer && answer.input !== undefined) input = answer.input;
  }
  return input;
}

/** The `after` hooks in order: the output the caller is given. */
export async function runAfter(hooks: readonly string[], call: HookCall, output: unknown, run: RunHook): Promise<unknown> {
  let out = output;
  for (const hook of hooks) {
    try {
      const r = AfterAnswerSchema.safeParse(await run(hook, { ...call, output: out }));
      if (!r.success || !("output" in r.data)) throw new Error('an after hook answers {"output": …}');
      out = r.data.output;
    } catch (e) {
      throw failed(hook, e);
    }
  }
  return out;
}
