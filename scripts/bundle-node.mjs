// Bundles the node's entry (dist/node.js, as tsc wrote it) with every module of Claw's it imports into one file,
// in place. Part of `npm run build`: a node then loads one module of its own instead of ~420 (the ESM loader's cost is
// per module: ~0.1–0.2 s of a start). Packages stay external (node_modules, loaded as before); what runs in a process
// of its own (the CLI, the skill runner) stays as tsc wrote it. Paths beside the code come from src/paths.ts, a
// top-level module, whose directory is the bundle's.
import { build } from "esbuild";
import { readdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const entry = `${dist}node.js`;
rmSync(`${entry}.map`, { force: true });
for (const f of readdirSync(dist)) if (f.startsWith("chunk-")) rmSync(`${dist}${f}`);
await build({
  entryPoints: [entry],
  outdir: dist,
  entryNames: "[name]",
  chunkNames: "chunk-[hash]",
  // what the node imports only when it needs it (a channel's adapter, gRPC, tracing, …) stays a module of its own, loaded then
  splitting: true,
  allowOverwrite: true,
  bundle: true,
  packages: "external",
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  logLevel: "warning",
});
