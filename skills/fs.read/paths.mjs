// Paths inside the workspace only: no absolute paths, no `..`, no symlink that leads out.
// (Each fs skill carries its own copy: only a skill's own folder is inside its sandbox.)
import { realpath } from "node:fs/promises";
import { isAbsolute, join, normalize, resolve, sep } from "node:path";

export async function inside(workspace, path, { mustExist }) {
  if (typeof path !== "string" || path === "" || isAbsolute(path))
    throw new Error(`refused: ${JSON.stringify(path)} is not a relative path inside the workspace`);
  const n = normalize(path);
  if (n === ".." || n.startsWith(`..${sep}`)) throw new Error(`refused: ${path} leaves the workspace`);
  const root = await realpath(workspace);
  // the deepest part of the path that exists, with its symlinks followed, must be inside; the rest is appended
  const parts = n === "." ? [] : n.split(sep);
  let existing = parts.length;
  let real;
  for (;;) {
    try {
      real = await realpath(resolve(root, ...parts.slice(0, existing)));
      break;
    } catch {
      if (mustExist) throw new Error(`no such file: ${path}`);
      existing--;
    }
  }
  if (real !== root && !real.startsWith(root + sep)) throw new Error(`refused: ${path} leads outside the workspace`);
  return join(real, ...parts.slice(existing));
}
