/**
 * deploy/alerts.yaml: every Claw metric its rules use is one a real node
 * exposes on /metrics, and `promtool check rules` passes. CI installs
 * promtool (the binary alone, from Debian's `prometheus` package, which
 * would also start a Prometheus server); elsewhere the check is skipped with
 * a warning when promtool is absent, and under CI its absence fails.
 */
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { skipWithout } from "../support/ci.js";
import { startClaw } from "../support/claw-node.js";
import { natsServer } from "../support/nats-server.js";

const RULES = fileURLToPath(new URL("../../deploy/alerts.yaml", import.meta.url));

describe("the alert rules", () => {
  it("use only metrics a node exposes", async () => {
    const text = await readFile(RULES, "utf8");
    const used = new Set([...text.matchAll(/\b(claw_[a-z_]+?)(?:_bucket|_sum|_count)?\b/g)].map((m) => m[1]!));
    expect(used.size).toBeGreaterThanOrEqual(9);
    await using nats = await natsServer();
    await using node = await startClaw({ env: { NATS_URL: nats.url } });
    const exposed = await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text();
    const names = new Set([...exposed.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!));
    expect([...used].filter((m) => !names.has(m))).toEqual([]);
  }, 30_000);

  const noPromtool = spawnSync("promtool", ["--version"], { encoding: "utf8" }).error
    ? "promtool is not installed (Debian's prometheus package brings it; .ci/run installs the binary alone)"
    : undefined;
  it.skipIf(skipWithout("alerts: promtool check rules", noPromtool))("pass promtool check rules", () => {
    const r = spawnSync("promtool", ["check", "rules", RULES], { encoding: "utf8" });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: 10 rules found/);
  });
});
