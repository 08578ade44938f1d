/**
 * One line a user can act on, for the errors a CLI can meet.
 */
import { BusError } from "../bus/index.js";
import { ConfigError } from "../config.js";

/** A user-facing description of an error (no stack trace). */
export function describeError(e: unknown): string {
  if (e instanceof ConfigError || e instanceof BusError) return e.message;
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") return `${e.message}: another process uses this port (set CLAW_HTTP_PORT)`;
    return e.message;
  }
  return String(e);
}
