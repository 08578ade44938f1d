/**
 * Whether an invocation may run on this node, decided before anything runs:
 * its skill is registered, its deadline has not passed, it is not a rerun of
 * a skill that is not idempotent, its sandbox is here and gives it what it
 * asks for, the node's owner grants it, and its input fits its schema. Pure:
 * the answer is the event the invocation machine takes next.
 */
import type { SkillDescriptor } from "./descriptor.js";
import { schemaValidator, skillRef } from "./descriptor.js";
import type { InvocationContext, InvocationEvent } from "./invocation.machine.js";
import { driverFor, type NodeDrivers } from "./sandbox/sandbox.js";
import { skillError } from "./skill.js";
import { ungranted, type SkillGrants } from "./skill-grants.js";

/** What the check needs of the node. */
export interface InvocationCheckDeps {
  nodeId: string;
  drivers: NodeDrivers;
  grants: SkillGrants;
}

/** `invocation.valid`, or `invocation.refused` with the first reason; `d` is the resolved skill's descriptor, undefined when none is registered. */
export function checkInvocation(c: InvocationContext, d: SkillDescriptor | undefined, deps: InvocationCheckDeps, now = Date.now()): InvocationEvent {
  const inv = c.invocation;
  if (!d)
    return { type: "invocation.refused", error: skillError("unknown_skill", `no skill ${inv.skill}${inv.version ? `@${inv.version}` : ""} is registered`) };
  const skill = skillRef(d);
  if (now >= inv.deadline) return { type: "invocation.refused", skill, error: skillError("timeout", "the invocation's deadline passed before it could run") };
  // delivered again: the node running it died mid-run; only an idempotent skill runs twice
  if (c.deliveries > 1 && !d.idempotent)
    return {
      type: "invocation.refused",
      skill,
      error: skillError("crashed", `the node running ${skill} died during the run, and the skill is not idempotent: not run again`),
    };
  const driver = driverFor(deps.drivers, d.runtime);
  if (driver) {
    if ("unavailable" in driver) return { type: "invocation.refused", skill, error: skillError("unavailable", driver.unavailable) };
    if (d.permissions.network !== "none") {
      return {
        type: "invocation.refused",
        skill,
        error: skillError(
          "denied",
          `${skill} asks for network access (${d.permissions.network.allow.join(", ")}); sandboxed skills run without network on this node — use the ` +
            `built-in http.fetch`,
        ),
      };
    }
  }
  const refused = ungranted(d, deps.grants);
  if (refused) return { type: "invocation.refused", skill, error: skillError("denied", `${skill} on node ${deps.nodeId}: ${refused.message}`) };
  const check = schemaValidator(d.input);
  if (!check(inv.input ?? {})) {
    const e = check.errors?.[0];
    return {
      type: "invocation.refused",
      skill,
      error: skillError("invalid_input", `input${e?.instancePath ? e.instancePath.replaceAll("/", ".") : ""} ${e?.message ?? "is invalid"}`),
    };
  }
  return { type: "invocation.valid", skill };
}
