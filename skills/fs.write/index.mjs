import { appendFile, lstat, mkdir, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { inside } from "./paths.mjs";

export default {
  async run({ path, content, append }, ctx) {
    const file = await inside(ctx.workspace, path, { mustExist: false });
    await mkdir(dirname(file), { recursive: true });
    // a symlink planted where the file goes could point anywhere: refuse to write through it
    const existing = await lstat(file).catch(() => undefined);
    if (existing?.isSymbolicLink()) throw new Error(`refused: ${path} is a symbolic link`);
    await (append ? appendFile : writeFile)(file, content, "utf8");
    return { path, size: (await stat(file)).size };
  },
};
