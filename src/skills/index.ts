/**
 * Skills: what agents call as tools. The contract, the catalog of versions,
 * the built-in skills, and the workers that run invocations from `CLAW_SKILLS`.
 */
export { SkillFailure, type Skill, type SkillContext } from "./skill.js";
export { builtinSkills, echoSkill, timeNowSkill, timeSleepSkill } from "./builtin-skills.js";
export { createSkillCatalog, type SkillCatalog } from "./skill-catalog.js";
export { startSkillWorkers, type SkillWorkerEvent, type SkillWorkerOptions, type SkillWorkers } from "./skill-worker.js";
