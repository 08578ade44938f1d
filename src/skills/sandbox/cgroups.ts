/**
 * Control groups for sandboxed runs, where the node may create them (root,
 * or a delegated subtree): a memory limit the kernel enforces with its OOM
 * killer (so a run past it is known to have been stopped for memory), a
 * process limit, and a way to kill everything a run started. cgroup v2
 * (unified) or v1 (`memory` and `pids` hierarchies). Where neither is
 * writable, runs rely on rlimits alone.
 */
import { access, mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { constants } from "node:fs";
import { join } from "node:path";

/** One run's control group(s). */
export interface RunCgroup {
  /** files a process writes its pid to, to join */
  readonly procFiles: string[];
  /** true when the kernel stopped something for memory */
  oomKilled(): Promise<boolean>;
  /** kills every process still in it */
  killAll(): Promise<void>;
  remove(): Promise<void>;
}

/** Creates control groups for runs. */
export interface CgroupFactory {
  readonly version: "v1" | "v2";
  create(id: string, limits: { memoryMb: number; processes: number }): Promise<RunCgroup>;
}

const ROOT = "/sys/fs/cgroup";
const BASE = "claw-skills";

const writable = async (p: string) =>
  access(p, constants.W_OK).then(
    () => true,
    () => false,
  );

async function readInts(file: string): Promise<Record<string, number>> {
  const text = await readFile(file, "utf8").catch(() => "");
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

async function killPids(procs: string): Promise<void> {
  const pids = (await readFile(procs, "utf8").catch(() => "")).split("\n").filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
}

async function removeDir(dir: string): Promise<void> {
  // a dying process leaves the group a moment after its kill
  for (let i = 0; i < 50; i++) {
    try {
      await rmdir(dir);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** cgroup v1: one group in each of the memory and pids hierarchies. */
function v1(): CgroupFactory {
  return {
    version: "v1",
    async create(id, limits) {
      const mem = join(ROOT, "memory", BASE, id);
      const pids = join(ROOT, "pids", BASE, id);
      await mkdir(mem, { recursive: true });
      await mkdir(pids, { recursive: true });
      const bytes = String(limits.memoryMb * 1024 * 1024);
      await writeFile(join(mem, "memory.limit_in_bytes"), bytes);
      // no way around the limit through swap, where swap is accounted
      await writeFile(join(mem, "memory.memsw.limit_in_bytes"), bytes).catch(() => undefined);
      await writeFile(join(pids, "pids.max"), String(limits.processes));
      return {
        procFiles: [join(mem, "cgroup.procs"), join(pids, "cgroup.procs")],
        async oomKilled() {
          const control = await readInts(join(mem, "memory.oom_control"));
          if (control["oom_kill"] !== undefined) return control["oom_kill"] > 0;
          return Number((await readFile(join(mem, "memory.failcnt"), "utf8").catch(() => "0")).trim()) > 0;
        },
        killAll: () => killPids(join(pids, "cgroup.procs")),
        async remove() {
          await removeDir(mem);
          await removeDir(pids);
        },
      };
    },
  };
}

/** cgroup v2: one group under a subtree with the memory and pids controllers. */
function v2(): CgroupFactory {
  return {
    version: "v2",
    async create(id, limits) {
      const base = join(ROOT, BASE);
      await mkdir(base, { recursive: true });
      await writeFile(join(ROOT, "cgroup.subtree_control"), "+memory +pids").catch(() => undefined);
      await writeFile(join(base, "cgroup.subtree_control"), "+memory +pids");
      const dir = join(base, id);
      await mkdir(dir);
      await writeFile(join(dir, "memory.max"), String(limits.memoryMb * 1024 * 1024));
      await writeFile(join(dir, "memory.swap.max"), "0").catch(() => undefined);
      await writeFile(join(dir, "pids.max"), String(limits.processes));
      return {
        procFiles: [join(dir, "cgroup.procs")],
        async oomKilled() {
          return ((await readInts(join(dir, "memory.events")))["oom_kill"] ?? 0) > 0;
        },
        async killAll() {
          await writeFile(join(dir, "cgroup.kill"), "1").catch(() => killPids(join(dir, "cgroup.procs")));
        },
        remove: () => removeDir(dir),
      };
    },
  };
}

/** The control groups this node may create, or undefined (tried once: a group is made and removed). */
export async function detectCgroups(): Promise<CgroupFactory | undefined> {
  const candidates: CgroupFactory[] = [];
  if (
    await access(join(ROOT, "cgroup.controllers")).then(
      () => true,
      () => false,
    )
  )
    candidates.push(v2());
  if ((await writable(join(ROOT, "memory"))) && (await writable(join(ROOT, "pids")))) candidates.push(v1());
  for (const f of candidates) {
    try {
      const g = await f.create(`probe-${process.pid}`, { memoryMb: 64, processes: 8 });
      await g.remove();
      return f;
    } catch {
      /* not this one */
    }
  }
  return undefined;
}
