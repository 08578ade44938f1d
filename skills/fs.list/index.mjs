import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { inside } from "./paths.mjs";

export default {
  async run({ path = "." }, ctx) {
    const dir = await inside(ctx.workspace, path, { mustExist: true });
    const entries = [];
    for (const e of (await readdir(dir, { withFileTypes: true })).slice(0, 1000)) {
      const s = await lstat(join(dir, e.name));
      entries.push({ name: e.name, type: e.isDirectory() ? "dir" : e.isSymbolicLink() ? "symlink" : "file", size: s.size });
    }
    return { path, entries };
  },
};
