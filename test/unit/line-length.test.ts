/**
 * The formatter (prettier, `npm run format`, checked by `npm test`) wraps code
 * at 160 columns but leaves a long string or comment as it is: this holds
 * every line of `src/` to those 160 columns too.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../../src", import.meta.url));
const MAX_COLUMNS = 160;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

describe("src/", () => {
  it(`has no line longer than ${MAX_COLUMNS} characters`, () => {
    const long = sources(SRC).flatMap((f) =>
      readFileSync(f, "utf8")
        .split("\n")
        .flatMap((line, i) => ([...line].length > MAX_COLUMNS ? [`${f.slice(SRC.length + 1)}:${i + 1} (${[...line].length})`] : [])),
    );
    expect(long).toEqual([]);
  });
});
