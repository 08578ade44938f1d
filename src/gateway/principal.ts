/**
 * Who made a request the access check let in, for handlers whose check needs
 * the body (chat completions' `model`).
 */
import type { IncomingMessage } from "node:http";
import { covers, type Principal } from "../auth/index.js";

/** When nothing is required: everyone may do everything. */
export const OPEN: Principal = { id: "anonymous", scopes: ["*"] };

/** Set by the access check. */
export const principals = new WeakMap<IncomingMessage, Principal>();

/** Who made a request that was let in. */
export function principalOf(req: IncomingMessage): Principal {
  return principals.get(req) ?? OPEN;
}

/** True when the caller of `req` has `scope`. */
export function allowed(req: IncomingMessage, scope: string): boolean {
  return covers(principalOf(req).scopes, scope);
}
