import { readFile, stat } from "node:fs/promises";
import { inside } from "./paths.mjs";

const MAX = 1024 * 1024;

export default {
  async run({ path }, ctx) {
    const file = await inside(ctx.workspace, path, { mustExist: true });
    const s = await stat(file);
    if (!s.isFile()) throw new Error(`${path} is not a file`);
    if (s.size > MAX) throw new Error(`${path} is ${s.size} bytes: more than ${MAX}`);
    return { path, content: await readFile(file, "utf8"), size: s.size };
  },
};
