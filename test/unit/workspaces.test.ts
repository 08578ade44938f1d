/**
 * Skill workspaces (red-team finding F11) on the local disk: what a measure
 * counts (never through a link), the quota a run is watched against, and
 * which workspaces a sweep removes — with the session's last turn given.
 */
import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { createWorkspaces, measureWorkspace, type Workspaces } from "../../src/skills/index.js";

let dir: string;
const made: Workspaces[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "claw-ws-unit-"));
});
afterEach(async () => {
  for (const w of made.splice(0)) w.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("measureWorkspace", () => {
  it("counts files, folders and links, and follows no link", async () => {
    await mkdir(join(dir, "w", "sub"), { recursive: true });
    await writeFile(join(dir, "w", "sub", "a"), Buffer.alloc(10_000));
    await writeFile(join(dir, "big"), Buffer.alloc(5_000_000));
    await symlink(join(dir, "big"), join(dir, "w", "link"));
    await symlink(dir, join(dir, "w", "up"));
    const u = await measureWorkspace(join(dir, "w"));
    expect(u.complete).toBe(true);
    expect(u.entries).toBe(4);
    expect(u.bytes).toBeGreaterThanOrEqual(10_000);
    expect(u.bytes).toBeLessThan(100_000);
  });

  it("calls a workspace with more entries than it counts incomplete", async () => {
    for (let i = 0; i < 30; i++) await writeFile(join(dir, `f${i}`), "");
    expect(await measureWorkspace(dir, 20)).toMatchObject({ complete: false });
  });
});

describe("workspaces", () => {
  const make = (o: { ttlMs?: number; lastTurn?: number } = {}) => {
    const w = createWorkspaces({ dir, quotaBytes: 1_000_000, ttlMs: o.ttlMs ?? 60_000, idleMs: 1_000, lastTurn: async () => o.lastTurn });
    made.push(w);
    return w;
  };

  it("gives a run what is left of the quota, and says when it filled it", async () => {
    const w = make();
    const s = await w.open("a.s1");
    await writeFile(join(s.path, "f"), Buffer.alloc(400_000));
    const watch = await w.watch(s);
    expect(watch.allowance).toBeLessThanOrEqual(600_000);
    expect(watch.allowance).toBeGreaterThan(500_000);
    await writeFile(join(s.path, "g"), Buffer.alloc(700_000));
    expect(await watch.end()).toMatchObject({ full: true });
    await w.release(s);
    expect(existsSync(s.path)).toBe(true);
    const i = await w.open(undefined);
    await w.release(i);
    expect(existsSync(i.path)).toBe(false);
  });

  it("sweeps a session's workspace once idle + TTL have passed since its last use and its last turn, never one in use", async () => {
    const now = Date.now();
    const w = make({ ttlMs: 60_000, lastTurn: now + 30_000 });
    const s = await w.open("a.s1");
    await w.release(s);
    expect(await w.sweep(now + 62_000)).toBe(0); // its session had a turn 30 s after the workspace's last use
    const idle = make({ ttlMs: 60_000, lastTurn: undefined });
    const used = await idle.open("a.s2");
    // with no turn since: a.s1's goes, a.s2's stays while a run is in it
    expect(await idle.sweep(now + 62_000)).toBe(1);
    expect(existsSync(s.path)).toBe(false);
    await idle.release(used);
    expect(await idle.sweep(now + 30_000)).toBe(0);
    expect(await idle.sweep(now + 62_000)).toBe(1);
    expect(existsSync(used.path) || existsSync(`${used.path}.json`)).toBe(false);
  });

  it("keeps session workspaces for good with a TTL of 0, and sweeps what a dead node left of an invocation", async () => {
    const w = make({ ttlMs: 0 });
    const s = await w.open("a.s1");
    await w.release(s);
    await mkdir(join(dir, "i-orphan1"));
    const old = new Date(Date.now() - 3 * 3_600_000);
    await utimes(join(dir, "i-orphan1"), old, old);
    expect(await w.sweep(Date.now() + 365 * 86_400_000)).toBe(1);
    expect(existsSync(s.path)).toBe(true);
    expect(existsSync(join(dir, "i-orphan1"))).toBe(false);
  });
});

describe("CLAW_WORKSPACE_QUOTA_MB and CLAW_WORKSPACE_TTL", () => {
  it("default to 100 MB and 7 days, and take durations", () => {
    expect(loadConfig({})).toMatchObject({ workspaceQuotaBytes: 100 * 1024 * 1024, workspaceTtlMs: 7 * 86_400_000 });
    expect(loadConfig({ CLAW_WORKSPACE_QUOTA_MB: "4", CLAW_WORKSPACE_TTL: "12h" })).toMatchObject({
      workspaceQuotaBytes: 4 * 1024 * 1024,
      workspaceTtlMs: 12 * 3_600_000,
    });
    for (const [text, ms] of [
      ["90s", 90_000],
      ["30m", 1_800_000],
      ["500ms", 500],
      ["2500", 2_500],
      ["0", 0],
    ] as const)
      expect(loadConfig({ CLAW_WORKSPACE_TTL: text }).workspaceTtlMs).toBe(ms);
  });

  it("refuses what is not one, naming the variable", () => {
    expect(() => loadConfig({ CLAW_WORKSPACE_TTL: "a week" })).toThrow(ConfigError);
    expect(() => loadConfig({ CLAW_WORKSPACE_TTL: "-1d" })).toThrow(/^CLAW_WORKSPACE_TTL: a duration/);
    expect(() => loadConfig({ CLAW_WORKSPACE_QUOTA_MB: "0" })).toThrow(/^CLAW_WORKSPACE_QUOTA_MB/);
  });
});
