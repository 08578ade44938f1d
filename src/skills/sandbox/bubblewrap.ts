/**
 * The bubblewrap driver, the default on Linux: every namespace unshared (no
 * network), the root file system read-only and reduced to `/usr` and its
 * links, a fresh `/tmp`, the workspace writable at `/work`, an empty
 * environment but what the skill is given, uid 65534 inside and — when the
 * node runs as root — outside too (so the process limit holds: the kernel
 * exempts root from it), rlimits for processes, memory, CPU time and file
 * size, a control group where the node may create one (the memory limit
 * then ends in the OOM killer, which says "memory" unambiguously), and the
 * whole process tree killed at the timeout. Where this bwrap and kernel
 * support them (detected at the driver's check), nested user namespaces are
 * disabled (`--disable-userns`: a user namespace of its own would give the
 * skill capabilities over fresh namespaces, the kernel's widest attack
 * surface) and a seccomp filter answers the syscalls no skill needs with
 * EPERM (seccomp-filter.ts). Everything runs with umask 077: what a skill
 * writes in its workspace is its user's alone (files 0600, folders 0700).
 *
 * bwrap itself is started with an empty environment: inside its PID
 * namespace it is PID 1, and /proc/1/environ would show the node's secrets.
 */
import { spawn } from "node:child_process";
import { existsSync, lstatSync } from "node:fs";
import { nuid } from "@nats-io/transport-node";
import { detectCgroups, type CgroupFactory, type RunCgroup } from "./cgroups.js";
import { unreachableByOthers } from "./reachable.js";
import { runChild } from "./run-child.js";
import type { SandboxCheck, SandboxDriver, SandboxSpec } from "./sandbox.js";
import { seccompFilter } from "./seccomp-filter.js";

/** The uid and gid a sandboxed run has. */
export const SANDBOX_UID = 65534;

/** Options of {@link createBubblewrapDriver}. */
export interface BubblewrapOptions {
  /** the bwrap binary (default: found on PATH, /usr/bin/bwrap) */
  binary?: string;
  /** `CLAW_SANDBOX_DIR`, whose files runs mount: a root node's sandbox user (uid 65534) must reach it, checked by {@link SandboxDriver.check} */
  sandboxDir?: string;
}

/** What the check found this bwrap and kernel can add to the namespaces. */
interface Hardening {
  /** `--disable-userns` works */
  noUserns: boolean;
  /** the seccomp program, when this architecture has one and `--seccomp` takes it */
  seccomp: Buffer | undefined;
  /** what is missing, and why */
  missing: string[];
}

/** The file descriptor the seccomp program is given on. */
const SECCOMP_FD = 3;

/** The path of `name` (or `explicit`, if it exists), searched on PATH and the usual bin folders. */
export function findBinary(name: string, explicit?: string): string | undefined {
  if (explicit) return existsSync(explicit) ? explicit : undefined;
  for (const d of (process.env.PATH ?? "").split(":").concat(["/usr/bin", "/bin", "/usr/local/bin"])) {
    if (d && existsSync(`${d}/${name}`)) return `${d}/${name}`;
  }
  return undefined;
}

/** `/lib`, `/bin`, … as the host has them: a symlink into /usr (merged /usr) is recreated, a directory bound read-only. */
export function systemDirs(): string[] {
  const args: string[] = ["--ro-bind", "/usr", "/usr"];
  for (const d of ["/lib", "/lib64", "/lib32", "/bin", "/sbin"]) {
    if (!existsSync(d)) continue;
    const st = lstatSync(d);
    if (st.isSymbolicLink()) args.push("--symlink", `usr${d}`, d);
    else if (st.isDirectory()) args.push("--ro-bind", d, d);
  }
  // name resolution and certificates, without the rest of /etc (no /etc/shadow, no node config)
  for (const f of ["/etc/ssl", "/etc/ca-certificates", "/etc/alternatives"]) if (existsSync(f)) args.push("--ro-bind", f, f);
  return args;
}

/** The binaries a run needs, found on this machine, and whether the node is root. */
interface Tools {
  bwrap: string;
  prlimit: string;
  /** present whenever the node is root */
  setpriv: string | undefined;
  asRoot: boolean;
}

/** A root node becomes the sandbox's user before bwrap (so the process limit counts only the skill's). */
function dropPrivileges(t: Tools): string[] {
  return t.asRoot ? [t.setpriv!, `--reuid=${SANDBOX_UID}`, `--regid=${SANDBOX_UID}`, "--clear-groups"] : [];
}

/**
 * The command line of one run. `processes` counts tasks (a Node skill has a
 * dozen threads of its own). With a control group the group's pids limit
 * holds it, per run; without one the per-user rlimit is all there is —
 * shared by every run at once, since every sandbox is uid 65534.
 */
function runArgv(t: Tools, spec: SandboxSpec, grouped: boolean, h: Hardening): string[] {
  const l = spec.limits;
  const args = [
    "--unshare-all",
    "--unshare-user",
    ...(h.noUserns ? ["--disable-userns"] : []),
    ...(h.seccomp ? ["--seccomp", String(SECCOMP_FD)] : []),
    "--die-with-parent",
    "--new-session",
    "--uid",
    String(SANDBOX_UID),
    "--gid",
    String(SANDBOX_UID),
    ...systemDirs(),
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
    "--bind",
    spec.workspace,
    "/work",
    ...spec.mounts.flatMap((m) => ["--ro-bind", m.host, m.at]),
    "--chdir",
    "/work",
    "--clearenv",
    ...Object.entries({ PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/work", ...spec.env }).flatMap(([k, v]) => ["--setenv", k, v]),
    "--",
    ...spec.command,
  ];
  // rlimits: with a control group the memory limit is the group's (the OOM killer tells), the rlimit a backstop
  const limits = [
    t.prlimit,
    `--nproc=${grouped ? 4096 : l.processes}`,
    `--cpu=${l.cpuSeconds}`,
    `--fsize=${l.fileBytes}`,
    "--nofile=256",
    "--core=0",
    `--data=${l.memoryMb * 1024 * 1024 * 2}`,
    "--",
  ];
  return [...dropPrivileges(t), ...limits, t.bwrap, ...args];
}

/** Runs `argv` with an empty environment (and `fd3` on descriptor 3): its exit code and what it said. */
function runQuietly(argv: string[], fd3?: Buffer): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(argv[0]!, argv.slice(1), { env: {}, stdio: ["ignore", "ignore", "pipe", ...(fd3 ? (["pipe"] as const) : [])] });
    let err = "";
    c.stderr!.on("data", (b: Buffer) => (err += b.toString()));
    if (fd3) {
      const w = c.stdio[SECCOMP_FD] as NodeJS.WritableStream & { on(e: "error", l: () => void): void };
      w.on("error", () => undefined);
      w.end(fd3);
    }
    c.on("error", (e) => resolve({ code: -1, err: e.message }));
    c.on("exit", (code) => resolve({ code, err }));
  });
}

/** Runs bwrap as the runs do, with `extra` options, on /bin/true. */
function probe(t: Tools, extra: string[], fd3?: Buffer): Promise<{ code: number | null; err: string }> {
  return runQuietly([...dropPrivileges(t), t.bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", ...extra, ...systemDirs(), "--", "/bin/true"], fd3);
}

/** What of `--disable-userns` and the seccomp filter this bwrap and kernel take (each tried once, alone). */
async function detectHardening(t: Tools): Promise<Hardening> {
  const missing: string[] = [];
  const userns = await probe(t, ["--disable-userns"]);
  if (userns.code !== 0)
    missing.push(
      `nested user namespaces stay possible (bwrap --disable-userns: ${userns.err.trim() || `exit ${userns.code}`}; bubblewrap 0.8 or later is needed)`,
    );
  let seccomp = seccompFilter();
  if (!seccomp) missing.push(`no seccomp filter for ${process.arch}`);
  else {
    const r = await probe(t, ["--seccomp", String(SECCOMP_FD)], seccomp);
    if (r.code !== 0) {
      missing.push(`no seccomp filter (bwrap --seccomp: ${r.err.trim() || `exit ${r.code}`})`);
      seccomp = undefined;
    }
  }
  return { noUserns: userns.code === 0, seccomp, missing };
}

/** Whether bubblewrap can sandbox runs here, and with what; `sandboxDir` is checked to be reachable by a root node's sandbox user. */
async function checkBubblewrap(
  t: Tools,
  sandboxDir: string | undefined,
  cgroups: () => Promise<CgroupFactory | undefined>,
  hardening: () => Promise<Hardening>,
): Promise<SandboxCheck> {
  const plain = await runQuietly([t.bwrap, "--unshare-all", "--die-with-parent", ...systemDirs(), "--", "/bin/true"]);
  if (plain.code !== 0) return { ok: false, reason: `bubblewrap cannot create a sandbox here (user namespaces?): ${plain.err.trim() || `exit ${plain.code}`}` };
  // under a private folder every run would fail with bwrap's "Can't find source path": said once, here
  const closed = t.asRoot && sandboxDir !== undefined ? await unreachableByOthers(sandboxDir) : undefined;
  if (closed) {
    return {
      ok: false,
      reason:
        `the sandbox's user (uid ${SANDBOX_UID}) cannot reach CLAW_SANDBOX_DIR ${sandboxDir}: ${closed.path} is mode ${closed.mode} (let others ` +
        `through with chmod o+x ${closed.path}, or choose another CLAW_SANDBOX_DIR)`,
    };
  }
  const cg = await cgroups();
  const h = await hardening();
  const has = [
    cg ? `cgroup ${cg.version} memory and process limits` : "rlimits only (no writable cgroup)",
    ...(h.seccomp ? [`seccomp filter (${process.arch})`] : []),
    ...(h.noUserns ? ["no nested user namespaces"] : []),
  ];
  return { ok: true, detail: [...has, ...h.missing].join("; ") };
}

/** Creates the driver. */
export function createBubblewrapDriver(o: BubblewrapOptions = {}): SandboxDriver {
  const bwrap = findBinary("bwrap", o.binary);
  const prlimit = findBinary("prlimit");
  const setpriv = findBinary("setpriv");
  const asRoot = process.getuid?.() === 0;
  const tools: Tools | undefined = bwrap && prlimit && (!asRoot || setpriv) ? { bwrap, prlimit, setpriv, asRoot } : undefined;
  // each found out once, on first need
  let checked: Promise<SandboxCheck> | undefined;
  let cgroups: Promise<CgroupFactory | undefined> | undefined;
  let hardening: Promise<Hardening> | undefined;
  const cgroupsOnce = () => (cgroups ??= detectCgroups());
  const hardeningOnce = (t: Tools) => (hardening ??= detectHardening(t));

  return {
    name: "bubblewrap",
    check() {
      if (!bwrap)
        return Promise.resolve({ ok: false, reason: "bubblewrap is not installed: apt-get install -y bubblewrap (Debian/Ubuntu), or dnf install bubblewrap" });
      if (!tools) return Promise.resolve({ ok: false, reason: "prlimit and setpriv (util-linux) are needed beside bubblewrap" });
      return (checked ??= checkBubblewrap(tools, o.sandboxDir, cgroupsOnce, () => hardeningOnce(tools)));
    },
    async run(spec) {
      // a run is only asked of a driver whose check passed
      const t = tools!;
      const cg = await cgroupsOnce();
      let group: RunCgroup | undefined;
      try {
        group = await cg?.create(`run-${nuid.next()}`, { memoryMb: spec.limits.memoryMb, processes: spec.limits.processes });
      } catch {
        group = undefined; // rlimits only
      }
      const h = await hardeningOnce(t);
      const inner = runArgv(t, spec, group !== undefined, h);
      // join the control group before dropping privileges, then become the sandbox; umask 077 holds through bwrap into the skill
      const join = group ? `for f in ${group.procFiles.join(" ")}; do echo $$ > "$f"; done; ` : "";
      const cmd = ["/bin/sh", "-c", `${join}umask 077; exec "$@"`, "sh", ...inner];
      return runChild({
        argv: cmd,
        env: {},
        cwd: "/",
        spec,
        fd3: h.seccomp,
        killAll: async () => group?.killAll(),
        settle: async (stopped) => {
          if (!group) return stopped;
          const oom = !stopped && (await group.oomKilled());
          await group.killAll();
          // an emptied group can take a few ms to go; the answer need not wait for it
          void group.remove();
          return oom ? "memory" : stopped;
        },
      });
    },
  };
}
