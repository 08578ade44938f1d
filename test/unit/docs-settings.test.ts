/**
 * The reference pages name every setting and every alert: a variable the
 * node reads that docs/configuration.md does not mention, or an alert of
 * deploy/alerts.yaml the runbook does not explain, is a gap an operator
 * falls into.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

/** The environment variables the node reads: the keys of `EnvSchema` in src/config.ts, and every `env.X` read elsewhere in src/. */
function variablesRead(): string[] {
  const config = read("src/config.ts");
  const start = config.indexOf("const EnvSchema");
  const schema = config.slice(start, config.indexOf("\n});", start));
  const keys = [...schema.matchAll(/^\s+((?:CLAW|NATS)_[A-Z0-9_]+):/gm)].map((m) => m[1]!);
  const reads = readdirSync(join(ROOT, "src"), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .flatMap((f) => [...read(join("src", f)).matchAll(/\benv\.((?:CLAW|NATS|OTEL)_[A-Z0-9_]+)/g)].map((m) => m[1]!));
  return [...new Set([...keys, ...reads])].sort();
}

describe("reference pages", () => {
  it("docs/configuration.md names every environment variable the node reads", () => {
    const variables = variablesRead();
    expect(variables.length, "EnvSchema's keys were found in src/config.ts").toBeGreaterThan(40);
    const page = read("docs/configuration.md");
    // named in a code span: `NAME`, or `NAME=value`
    const named = (v: string) => page.includes("`" + v + "`") || page.includes("`" + v + "=");
    expect(variables.filter((v) => !named(v))).toEqual([]);
  });

  it("the runbook explains every alert of deploy/alerts.yaml", () => {
    const rules = (parse(read("deploy/alerts.yaml")) as { groups: Array<{ rules: Array<{ alert: string }> }> }).groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThan(0);
    const page = read("docs/operations.md");
    const runbook = page.slice(page.indexOf("## Runbook"));
    expect(rules.map((r) => r.alert).filter((a) => !new RegExp(`^\\| \`${a}\` \\|`, "m").test(runbook))).toEqual([]);
  });
});
