/**
 * Red-team finding F17, from inside a bubblewrap sandbox: no nested user
 * namespaces (`--disable-userns`), a seccomp filter that answers the
 * syscalls no skill needs with EPERM — and ordinary skills (bash, fs.*)
 * working as before, the files they make readable by their own user only.
 */
import { chmod, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBubblewrapDriver } from "../../src/skills/index.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { natsServer, type NatsServerProcess } from "../support/nats-server.js";

let nats: NatsServerProcess;
let claw: ClawProcess;
let dir: string;

const invoke = async (skill: string, input: unknown) => {
  const res = await fetch(`http://127.0.0.1:${claw.httpPort}/v1/skills/${skill}/invoke`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ input, timeout_ms: 20_000 }),
  });
  return (await res.json()) as { output?: any; error?: { code: string; message: string } };
};
const bash = async (command: string) => (await invoke("bash", { command })).output as { exitCode: number; stdout: string; stderr: string };

/** ptrace's number on this machine: PTRACE_TRACEME (0) succeeds for any process that no seccomp filter stops. */
const PTRACE = process.arch === "arm64" ? 117 : 101;
const KEYCTL = process.arch === "arm64" ? 219 : 250;
/** clone's number: with CLONE_NEWUSER (and SIGCHLD) it makes a child in a new user namespace where nothing stops it */
const CLONE = process.arch === "arm64" ? 220 : 56;

beforeAll(async () => {
  const check = await createBubblewrapDriver().check();
  if (!check.ok) throw new Error(`these tests run skills in bubblewrap, which cannot run here: ${check.reason}`);
  dir = await mkdtemp(join(tmpdir(), "claw-seccomp-"));
  await chmod(dir, 0o711);
  nats = await natsServer();
  claw = await startClaw({ env: { NATS_URL: nats.url, CLAW_SANDBOX_DIR: join(dir, "sandbox") } });
});

afterAll(async () => {
  await claw?.[Symbol.asyncDispose]();
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the bubblewrap sandbox's kernel surface", () => {
  it("says at start what it hardens the sandbox with", async () => {
    const [line] = await claw.waitForLogs((l) => l.sandbox === "bubblewrap");
    expect(line!.detail).toMatch(/seccomp filter/);
    expect(line!.detail).toMatch(/no nested user namespaces/);
  });

  it("lets a skill make no user namespace of its own", async () => {
    const r = await bash('unshare -U true; echo "exit $?"; unshare -Ur id -u; echo "exit $?"');
    expect(r.stdout).not.toContain("exit 0");
    expect(r.stderr).toMatch(/unshare failed: (Operation not permitted|No space left on device)/);
    // clone(CLONE_NEWUSER) is not on the seccomp list: --disable-userns alone stops it
    const clone = await bash(`perl -e '$! = 0; my $r = syscall(${CLONE}, 0x10000000 | 17, 0, 0, 0, 0); exit 0 if $r == 0; print "clone $r $!\\n"'`);
    expect(clone.stdout).toMatch(/^clone -1 (No space left on device|Operation not permitted)$/m);
  });

  it("answers the syscalls no skill needs with EPERM (ptrace, keyctl, unshare)", async () => {
    // unfiltered, PTRACE_TRACEME and KEYCTL_GET_KEYRING_ID of the session keyring both succeed
    const r = await bash(
      `grep -E '^Seccomp:' /proc/self/status; perl -e '$! = 0; my $r = syscall(${PTRACE}, 0, 0, 0, 0); print "ptrace $r $!\\n"; $! = 0; $r = ` +
        `syscall(${KEYCTL}, 0, -3, 1); print "keyctl $r $!\\n"'; unshare -m true 2>&1; echo "unshare $?"`,
    );
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(r.stdout).toContain("ptrace -1 Operation not permitted");
    expect(r.stdout).toContain("keyctl -1 Operation not permitted");
    expect(r.stdout).toMatch(/unshare failed: Operation not permitted/);
  });

  it("still runs bash and the fs skills, and what they make is their user's alone (0600 files, 0700 folders)", async () => {
    expect(await bash("mkdir -p sub && echo hi > sub/f && cat sub/f && stat -c '%a' sub sub/f")).toMatchObject({ exitCode: 0, stdout: "hi\n700\n600\n" });
    expect((await invoke("fs.write", { path: "notes/a.txt", content: "kept" })).output).toMatchObject({ path: "notes/a.txt", size: 4 });
    expect(await bash("umask")).toMatchObject({ stdout: "0077\n" });
    // and the folder of every workspace: others pass through to what is mounted, none lists it
    expect((await stat(join(dir, "sandbox", "workspaces"))).mode & 0o777).toBe(0o711);
  });

  it("runs without what an older bwrap lacks, and says what is missing", async () => {
    // a bwrap that knows neither --disable-userns nor --seccomp, as 0.4 did
    const old = join(dir, "old-bwrap");
    await writeFile(
      old,
      `#!/bin/sh\nfor a in "$@"; do case "$a" in --disable-userns|--seccomp) echo "bwrap: Unknown option $a" >&2; exit 1;; esac; done\nexec ` +
        `${await realBwrap()} "$@"\n`,
      { mode: 0o755 },
    );
    const driver = createBubblewrapDriver({ binary: old });
    const check = await driver.check();
    expect(check).toMatchObject({ ok: true, detail: expect.stringContaining("nested user namespaces stay possible") });
    expect(check.ok && check.detail).toContain("no seccomp filter (bwrap --seccomp: bwrap: Unknown option --seccomp)");
    const ws = await mkdtemp(join(dir, "ws-"));
    await chmod(ws, 0o777);
    const r = await driver.run({
      command: ["/bin/sh", "-c", "grep -E '^Seccomp:' /proc/self/status"],
      stdin: "",
      env: {},
      workspace: ws,
      mounts: [],
      network: "none",
      limits: { timeoutMs: 10_000, memoryMb: 128, cpuSeconds: 10, processes: 32, outputBytes: 65_536, fileBytes: 1_000_000 },
    });
    expect(r).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/^Seccomp:\s+0$/m) });
  });
});

/** The bwrap the node finds on PATH. */
async function realBwrap(): Promise<string> {
  for (const d of (process.env.PATH ?? "").split(":").concat(["/usr/bin"])) {
    if (
      await stat(join(d, "bwrap")).then(
        () => true,
        () => false,
      )
    )
      return join(d, "bwrap");
  }
  throw new Error("no bwrap");
}
