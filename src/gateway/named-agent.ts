/**
 * An agent named by an HTTP caller in `metadata.agent` (`POST /v1/messages`,
 * a `/v1/ws` frame): honoured only for a caller that may invoke that agent
 * (`agents:invoke:<agent>`), so a `messages:write` credential cannot pick an
 * agent it may not call. Ingress checks the rest: the agent must be bound to
 * the message's channel (agent-routing.ts).
 */
import { covers, type Principal } from "../auth/index.js";
import { HttpError } from "./errors.js";

/** Throws a 403 (or a 400 for a name that is not one) unless `p` may name the agent in `metadata`. */
export function checkNamedAgent(metadata: unknown, p: Principal): void {
  if (metadata === null || typeof metadata !== "object" || !("agent" in metadata)) return;
  const agent = (metadata as { agent?: unknown }).agent;
  if (typeof agent !== "string" || agent === "") throw new HttpError(400, "invalid_body", "metadata.agent: an agent id", "metadata.agent");
  const scope = `agents:invoke:${agent}`;
  if (!covers(p.scopes, scope)) throw new HttpError(403, "forbidden", `metadata.agent: naming an agent needs the scope ${scope}`, "metadata.agent");
}
