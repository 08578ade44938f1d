/**
 * A `CLAW_CONFIG` file for a unit test, and the words with which the node
 * refuses it (the file's path left out).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

/** Writes `config` to a fresh `claw.config.json`; returns its path. */
export function configFile(config: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), "claw-config-")), "claw.config.json");
  writeFileSync(path, JSON.stringify(config));
  return path;
}

/** The refusal of `config` (a ConfigError, its message without the path); throws when it is accepted. */
export function configRefusal(config: unknown): string {
  try {
    loadConfig({ CLAW_CONFIG: configFile(config) });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message.replace(/^.*claw\.config\.json: /, "");
  }
  throw new Error("the configuration was accepted");
}
