/**
 * Whether the sandbox's user (uid 65534, not the node's) can reach a
 * directory: every folder above it must let others through (`o+x`). A
 * `CLAW_SANDBOX_DIR` under a private folder (a `mktemp -d`, a 0700 data dir)
 * would otherwise fail every run with bubblewrap's "Can't find source path".
 */
import { stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/** The first folder on the way to `dir` that others cannot pass, with its mode; undefined when all can. */
export async function unreachableByOthers(dir: string): Promise<{ path: string; mode: string } | undefined> {
  for (let p = resolve(dir); ; p = dirname(p)) {
    const st = await stat(p);
    if ((st.mode & 0o001) === 0) return { path: p, mode: (st.mode & 0o777).toString(8) };
    if (dirname(p) === p) return undefined;
  }
}
