/**
 * The documentation holds together: the README stays a front door (at most
 * 400 lines, its two commands the ones CI runs), every page under docs/ is
 * reachable from it, no relative link is dead — a file that is not there, a
 * `#anchor` no heading makes, a path out of the repository — and no path of
 * the repository named in the text (`src/…`, `test/…`) has gone stale.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { markdownFileOutline } from "../support/markdown-links.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const README = "README.md";
const MAX_README_LINES = 400;

/** README.md and every Markdown page under docs/, as paths relative to the repository. */
const PAGES = [
  README,
  ...readdirSync(join(ROOT, "docs"), { recursive: true, encoding: "utf8" })
    .filter((p) => p.endsWith(".md"))
    .map((p) => join("docs", p))
    .sort(),
];
/**
 * The pages whose links are checked: the documentation, and the benchmark results it links to and that link back (a dated record: the paths it names are not
 * checked).
 */
const LINKING = [...PAGES, "bench/RESULTS.md"];

/** Where a link leads: a repository-relative file (and anchor), or why it cannot be followed. */
type Target = { external: true } | { external: false; file: string; anchor?: string } | { problem: string };

function follow(page: string, href: string): Target {
  if (/^(https?|mailto):/i.test(href)) return { external: true };
  if (/^[a-z][a-z0-9+.-]*:/i.test(href)) return { problem: "a scheme other than http(s) or mailto" };
  const hash = href.indexOf("#");
  const path = decodeURIComponent(hash < 0 ? href : href.slice(0, hash));
  const anchor = hash < 0 ? undefined : decodeURIComponent(href.slice(hash + 1));
  if (path.startsWith("/")) return { problem: "an absolute path: link relatively, within the repository" };
  const file = relative(ROOT, path === "" ? join(ROOT, page) : resolve(ROOT, dirname(page), path));
  if (file === ".." || file.startsWith(`..${sep}`)) return { problem: "outside the repository" };
  return { external: false, file, anchor };
}

/** A page's dead links, one line each. */
function deadLinks(page: string): string[] {
  const problems: string[] = [];
  for (const link of markdownFileOutline(join(ROOT, page)).links) {
    const t = follow(page, link.href);
    const where = `${page}: [${link.text}](${link.href})`;
    if ("problem" in t) problems.push(`${where}: ${t.problem}`);
    else if (t.external) continue;
    else if (!existsSync(join(ROOT, t.file))) problems.push(`${where}: no file ${t.file}`);
    else if (t.anchor !== undefined) {
      if (!t.file.endsWith(".md") || statSync(join(ROOT, t.file)).isDirectory()) problems.push(`${where}: an anchor into a file that is not Markdown`);
      else if (!markdownFileOutline(join(ROOT, t.file)).anchors.has(t.anchor)) problems.push(`${where}: ${t.file} has no heading #${t.anchor}`);
    }
  }
  return problems;
}

/** Markdown files reachable from `start` by relative links. */
function reachable(start: string): Set<string> {
  const seen = new Set([start]);
  const queue = [start];
  for (let page = queue.shift(); page !== undefined; page = queue.shift()) {
    for (const link of markdownFileOutline(join(ROOT, page)).links) {
      const t = follow(page, link.href);
      if ("problem" in t || t.external || !t.file.endsWith(".md") || seen.has(t.file) || !existsSync(join(ROOT, t.file))) continue;
      seen.add(t.file);
      queue.push(t.file);
    }
  }
  return seen;
}

/** Code spans that name a path of the repository (`src/bus/subjects.ts`, `deploy/kubernetes/`): placeholders and globs left out. */
const REPO_PATH = /^(src|test|bench|deploy|nats|grafana|scripts|docs|\.ci)\/[A-Za-z0-9_./-]*$/;

describe("docs", () => {
  it(`README.md is a front door of at most ${MAX_README_LINES} lines`, () => {
    const lines = readFileSync(join(ROOT, README), "utf8").trimEnd().split("\n").length;
    expect(lines, "move detail into docs/ and link it").toBeLessThanOrEqual(MAX_README_LINES);
  });

  it("the README's test command is the one .ci/run runs", () => {
    const readme = readFileSync(join(ROOT, README), "utf8");
    const line = readme.split("\n").find((l) => /#\s*run the tests/.test(l));
    expect(line, "README.md: the line with the test command, commented `# run the tests`").toBeDefined();
    const command = line!.replace(/#.*/, "").trim();
    const ci = readFileSync(join(ROOT, ".ci/run"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    expect(ci.at(-1)).toBe(command);
  });

  it.each(LINKING)("%s: every relative link reaches a file of the repository, every #anchor a heading there", (page) => {
    expect(deadLinks(page)).toEqual([]);
  });

  it("every page under docs/ is reachable from README.md", () => {
    const seen = reachable(README);
    expect(PAGES.filter((p) => !seen.has(p))).toEqual([]);
  });

  it.each(PAGES)("%s: every path of the repository it names exists", (page) => {
    const stale = markdownFileOutline(join(ROOT, page))
      .codeSpans.filter((s) => REPO_PATH.test(s))
      .filter((s) => !existsSync(join(ROOT, s)));
    expect(stale).toEqual([]);
  });
});
