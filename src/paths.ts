/**
 * Where the files a node reads beside its code are, from the top of `src/`
 * (`dist/` as built). Here, in one top-level module, because `dist/node.js`
 * is a bundle (scripts/bundle-node.mjs): bundled code sees the bundle's own
 * `import.meta.url`, which is this module's directory, not a subfolder's.
 */
import { fileURLToPath } from "node:url";

/** The repository's (the package's) root. */
export const PACKAGE_ROOT = new URL("../", import.meta.url);
/** Where the service's definition ships: `proto/claw/v1/claw.proto` in the repository and the image. */
export const CLAW_PROTO = fileURLToPath(new URL("proto/claw/v1/claw.proto", PACKAGE_ROOT));
/** The harness of `node` skills, as built (copy it to a `.mjs` path to run it outside the package). */
export const NODE_RUNNER_JS = new URL("./skills/node-runner.js", import.meta.url);
/** The live view's built assets (`dist/ui/assets`). */
export const UI_ASSETS_DIR = fileURLToPath(new URL("./ui/assets/", import.meta.url));
/** Claw's own skills (`skills/` in the repository and the image). */
export const SHIPPED_SKILLS_DIR = fileURLToPath(new URL("skills", PACKAGE_ROOT));
/** The package's manifest (its version). */
export const PACKAGE_JSON = new URL("package.json", PACKAGE_ROOT);
