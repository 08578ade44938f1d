/**
 * A catalog of descriptors held in memory (tests, and nodes that run no
 * registry): `"<id>@<range>"` resolves to the highest satisfying version.
 */
// one function of semver, not its index (which loads every module of the package)
import maxSatisfying from "semver/ranges/max-satisfying.js";
import { parseSkillDescriptor, type SkillDescriptor } from "./descriptor.js";
import type { SkillCatalog } from "./skill.js";

/** The highest version of `id` within `range` among `descriptors`. */
export function resolveVersion<T extends { version: string; id: string }>(items: readonly T[], id: string, range = "*"): T | undefined {
  const versions = items.filter((s) => s.id === id);
  const best = maxSatisfying(
    versions.map((s) => s.version),
    range,
  );
  return best === null ? undefined : versions.find((s) => s.version === best);
}

/** A catalog of the given descriptors (validated). */
export function createSkillCatalog(descriptors: readonly unknown[]): SkillCatalog {
  const all: SkillDescriptor[] = descriptors.map((d) => parseSkillDescriptor(d));
  return { list: () => [...all], resolve: (id, range) => resolveVersion(all, id, range) };
}
