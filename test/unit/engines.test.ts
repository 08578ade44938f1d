/**
 * Every package `npm ci` installs supports the oldest Node Claw says it runs
 * on (`engines` in package.json): otherwise npm prints EBADENGINE warnings,
 * and a dependency may use what that Node lacks.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import semver from "semver";
import { describe, expect, it } from "vitest";

const read = (f: string) => JSON.parse(readFileSync(fileURLToPath(new URL(`../../${f}`, import.meta.url)), "utf8"));

describe("engines", () => {
  it("every locked package supports the oldest Node that package.json's engines allows", () => {
    const own: string = read("package.json").engines.node;
    const oldest = semver.minVersion(own)!.version;
    const lock = read("package-lock.json") as { packages: Record<string, { engines?: { node?: string } | string[]; optional?: boolean }> };
    const unsupported = Object.entries(lock.packages)
      .filter(([path, p]) => path !== "" && !Array.isArray(p.engines) && p.engines?.node && !semver.satisfies(oldest, p.engines.node))
      .map(([path, p]) => `${path.replace(/^.*node_modules\//, "")} needs node ${(p.engines as { node: string }).node}`);
    expect(unsupported, `Claw's engines say node ${own}`).toEqual([]);
  });
});
