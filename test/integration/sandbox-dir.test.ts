/**
 * Red-team finding F6: a root node must not follow links another local user
 * planted in its sandbox dir (the old default, /tmp/claw-sandbox, could be
 * made first by anyone). The default now lives under the data dir; a
 * configured one that another user owns, or that others may write to (or
 * whose parent they may), is refused at start — and nothing in it is followed.
 */
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runClawExpectingFailure, startClaw } from "../support/claw-node.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";
import { skipWithout } from "../support/ci.js";

const NOBODY = 65534;
let nats: NatsServerProcess;
let dir: string;

beforeAll(async () => {
  nats = await natsServer();
  dir = await mkdtemp(join(tmpdir(), "claw-sandbox-dir-"));
  await chmod(dir, 0o755); // like /tmp: others pass through
});

afterAll(async () => {
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// only root can hand a folder to another user, and only a root node is the target
describe.skipIf(skipWithout("sandbox-dir: a root node's sandbox dir", process.getuid?.() === 0 ? undefined : "the tests do not run as root"))(
  "the sandbox dir of a root node",
  () => {
    it("refuses one another user made first, following none of the links planted in it", async () => {
      // what root owns: a file only root may write, a folder only root may enter
      const victim = join(dir, "root-only.conf");
      await writeFile(victim, "root's own\n", { mode: 0o600 });
      const rootOnly = join(dir, "root-only");
      await mkdir(rootOnly, { mode: 0o700 });
      // what uid 65534 prepared where the node will look
      const trap = join(dir, "claw-sandbox");
      await mkdir(join(trap, "runner"), { recursive: true });
      await symlink(victim, join(trap, "runner", "node-runner.mjs"));
      await symlink(rootOnly, join(trap, "workspaces"));
      await symlink(rootOnly, join(trap, "skill-cache"));
      for (const p of [trap, join(trap, "runner")]) await chown(p, NOBODY, NOBODY);
      for (const p of ["runner/node-runner.mjs", "workspaces", "skill-cache"]) await lchownNobody(join(trap, p));

      const r = await runClawExpectingFailure({ NATS_URL: nats.url, CLAW_SANDBOX_DIR: trap });
      expect(r.code, r.output).toBe(1);
      expect(r.output).toContain(`CLAW_SANDBOX_DIR ${trap} is owned by uid ${NOBODY}`);
      expect(await readFile(victim, "utf8")).toBe("root's own\n");
      const st = await stat(rootOnly);
      expect({ uid: st.uid, mode: st.mode & 0o777 }).toEqual({ uid: 0, mode: 0o700 });
      expect(await readdir(rootOnly)).toEqual([]);
    }, 30_000);

    it("refuses one that others may write to, or whose parent others may (without the sticky bit)", async () => {
      const open = join(dir, "open");
      await mkdir(open);
      await chmod(open, 0o777);
      const writable = await runClawExpectingFailure({ NATS_URL: nats.url, CLAW_SANDBOX_DIR: open });
      expect(writable.code, writable.output).toBe(1);
      expect(writable.output).toContain(`CLAW_SANDBOX_DIR ${open} is writable by others (mode 777)`);
      const below = await runClawExpectingFailure({ NATS_URL: nats.url, CLAW_SANDBOX_DIR: join(open, "sandbox") });
      expect(below.code, below.output).toBe(1);
      expect(below.output).toContain(`${open} is writable by others (mode 777)`);
      expect(await readdir(open)).toEqual([]);
    }, 30_000);

    it("makes its own under the data dir by default, reachable by the sandbox's user and writable by no one else", async () => {
      const data = join(dir, "data");
      await using node = await startClaw({ env: { NATS_URL: nats.url, CLAW_DATA_DIR: data } });
      const base = join(data, "sandbox");
      for (const p of [base, join(base, "runner"), join(base, "workspaces"), join(base, "skill-cache")]) {
        const st = await lstat(p);
        expect(st.isDirectory(), p).toBe(true);
        expect({ p, uid: st.uid, writableByOthers: (st.mode & 0o022) !== 0, passable: (st.mode & 0o001) !== 0 }).toEqual({
          p,
          uid: 0,
          writableByOthers: false,
          passable: true,
        });
      }
      expect((await lstat(join(base, "runner", "node-runner.mjs"))).isFile()).toBe(true);
      const res = await fetch(`http://127.0.0.1:${node.httpPort}/v1/skills/bash/invoke`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ input: { command: "id -u" } }),
      });
      expect(await res.json()).toMatchObject({ output: { exitCode: 0, stdout: `${NOBODY}\n` } });
    }, 30_000);
  },
);

/** chown of a link itself (never of what it points to). */
async function lchownNobody(path: string): Promise<void> {
  const { lchown } = await import("node:fs/promises");
  await lchown(path, NOBODY, NOBODY);
}
