/**
 * The skill SDK: `defineSkill` gives a skill's module its types. A skill is a
 * module whose default export has `run(input, ctx)`; the sandbox's harness
 * (node-runner) calls it with the input (validated against the descriptor's
 * schema) and sends back what it returns (validated against the output
 * schema). Compile a TypeScript skill to one `.mjs` file: only the skill's
 * folder is inside the sandbox.
 */
import type { NodeSkillContext } from "./node-runner.js";

/** A skill's module. */
export interface SkillModule<I, O> {
  run(input: I, ctx: NodeSkillContext): O | Promise<O>;
}

/** Types a skill's module (it returns what it is given). */
export function defineSkill<I = unknown, O = unknown>(skill: SkillModule<I, O>): SkillModule<I, O> {
  return skill;
}

export type { NodeSkillContext };
