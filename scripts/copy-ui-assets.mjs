// Copies the live view's static files (ui/) to dist/ui/assets, where src/ui serves them from.
// Part of `npm run build`; replaces the previous copy so deleted files do not linger.
import { cpSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const from = fileURLToPath(new URL("../ui/", import.meta.url));
const to = fileURLToPath(new URL("../dist/ui/assets/", import.meta.url));
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
