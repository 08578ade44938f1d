/**
 * Subjects are built only in src/bus/subjects.ts: no other source file holds
 * a subject of Claw's families (`claw.in.…`, `claw.ctl.…`,
 * `claw.events.…`, …), the `claw.>` wildcard or a JetStream API subject
 * (`$KV.…`) in a string or template literal. Comments may name them, and so
 * may a sentence (an error message: a subject holds no space).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = join(import.meta.dirname, "../../src");
const HOME = "bus/subjects.ts";
const FAMILIES = ["in", "out", "delta", "session", "transcript", "skill", "skill-result", "dlq", "webhook", "audit", "ctl", "events"];
/** the start of a subject: a family's prefix, the `claw.>` wildcard or a JetStream API prefix */
const PIECE = `(claw\\.(${FAMILIES.join("|")})\\.|claw\\.>|\\$(KV|JS|SYS)\\.)`;
/**
 * a literal starting a subject, or a `${…}` or a dot before one; a sentence names them after a space, and
 * span names and attributes (`"claw.session"`) have no dot after the family
 */
const SUBJECT = new RegExp(`["'\`}.]${PIECE}`);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** The code of a line, without a comment: TSDoc and block-comment lines, and a trailing `// …`. */
function code(line: string): string {
  const t = line.trim();
  if (t.startsWith("*") || t.startsWith("/*") || t.startsWith("//")) return "";
  return line.replace(/\s\/\/\s.*$/, "");
}

/** Where a file builds a subject by hand: `<file>:<line>: <the line>`. */
function subjectLiterals(file: string): string[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .flatMap((line, i) => (SUBJECT.test(code(line)) ? [`${relative(SRC, file)}:${i + 1}: ${line.trim()}`] : []));
}

describe("subject literals", () => {
  it("are found where a file builds a subject by hand, and not in comments, sentences or span names", () => {
    const found = subjectLiterals(join(import.meta.dirname, "subject-literals.fixture.txt")).map((l) => Number(/:(\d+):/.exec(l)![1]));
    expect(found).toEqual([3, 4, 5, 6, 7]);
  });

  it("live in src/bus/subjects.ts only", () => {
    const found = sources(SRC)
      .filter((f) => relative(SRC, f) !== HOME)
      .flatMap(subjectLiterals);
    expect(found).toEqual([]);
  });
});
