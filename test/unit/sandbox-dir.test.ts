/**
 * The sandbox dir's checks (red-team finding F6) that need no second user:
 * links are never followed, neither as the dir nor when the node writes in it.
 */
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { prepareSandboxDir, SandboxDirError, writeFileSafely } from "../../src/skills/index.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "claw-sbdir-unit-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("CLAW_SANDBOX_DIR", () => {
  it("defaults to the data dir's sandbox folder, not a shared /tmp one", () => {
    expect(loadConfig({}).sandboxDir).toBe(join("data", "sandbox"));
    expect(loadConfig({ CLAW_DATA_DIR: "/var/lib/claw" }).sandboxDir).toBe("/var/lib/claw/sandbox");
    expect(loadConfig({ CLAW_DATA_DIR: "/var/lib/claw", CLAW_SANDBOX_DIR: "/srv/sb" }).sandboxDir).toBe("/srv/sb");
  });
});

describe("prepareSandboxDir", () => {
  it("makes the dir and its folders, the folders above it too", async () => {
    const d = await prepareSandboxDir(join(dir, "a", "b", "sandbox"));
    expect(d).toEqual({
      base: join(dir, "a", "b", "sandbox"),
      runnerDir: join(dir, "a/b/sandbox/runner"),
      cacheDir: join(dir, "a/b/sandbox/skill-cache"),
      workDir: join(dir, "a/b/sandbox/workspaces"),
    });
    expect(((await lstat(d.workDir)).mode & 0o777).toString(8)).toBe("711");
    // and takes it again as it is
    expect(await prepareSandboxDir(join(dir, "a", "b", "sandbox"))).toEqual(d);
  });

  it("refuses a link as the dir or as one of its folders, following neither", async () => {
    const elsewhere = join(dir, "elsewhere");
    await mkdir(elsewhere);
    await symlink(elsewhere, join(dir, "linked"));
    await expect(prepareSandboxDir(join(dir, "linked"))).rejects.toThrow(SandboxDirError);
    await expect(prepareSandboxDir(join(dir, "linked"))).rejects.toThrow(/is a symbolic link/);
    await mkdir(join(dir, "sb"));
    await symlink(elsewhere, join(dir, "sb", "workspaces"));
    await expect(prepareSandboxDir(join(dir, "sb"))).rejects.toMatchObject({ code: "unsafe_sandbox_dir", path: join(dir, "sb", "workspaces") });
    expect(((await lstat(elsewhere)).mode & 0o777).toString(8)).toBe("755");
  });
});

describe("writeFileSafely", () => {
  it("replaces a link planted where it writes instead of writing through it", async () => {
    const victim = join(dir, "victim");
    await writeFile(victim, "precious");
    await symlink(victim, join(dir, "runner.mjs"));
    await writeFileSafely(join(dir, "runner.mjs"), Buffer.from("the runner"));
    expect(await readFile(victim, "utf8")).toBe("precious");
    expect((await lstat(join(dir, "runner.mjs"))).isFile()).toBe(true);
    expect(await readFile(join(dir, "runner.mjs"), "utf8")).toBe("the runner");
    await expect(readlink(join(dir, "runner.mjs"))).rejects.toMatchObject({ code: "EINVAL" });
  });
});
