/**
 * Claw's version, read once from package.json.
 */
import { readFileSync } from "node:fs";
import { PACKAGE_JSON } from "./paths.js";

/** The version in package.json. */
export const CLAW_VERSION: string = (JSON.parse(readFileSync(PACKAGE_JSON, "utf8")) as { version: string }).version;
