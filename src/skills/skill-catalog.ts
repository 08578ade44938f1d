/**
 * The skills a node knows, by id and version: an agent's `"<id>@<range>"`
 * resolves to the highest version that satisfies the range.
 */
import semver from "semver";
import type { Skill } from "./skill.js";

/** Skills by id and version. */
export interface SkillCatalog {
  list(): Skill[];
  /** the highest version of `id` within `range` (`*`: any) */
  resolve(id: string, range?: string): Skill | undefined;
}

/** A catalog of the given skills. */
export function createSkillCatalog(skills: readonly Skill[]): SkillCatalog {
  const byId = new Map<string, Skill[]>();
  for (const s of skills) byId.set(s.id, [...(byId.get(s.id) ?? []), s]);
  return {
    list: () => [...skills],
    resolve(id, range = "*") {
      const versions = byId.get(id) ?? [];
      const best = semver.maxSatisfying(
        versions.map((s) => s.version),
        range,
      );
      return best === null ? undefined : versions.find((s) => s.version === best);
    },
  };
}
