/**
 * Invoking a skill from outside a session (`POST /v1/skills/{id}/invoke`,
 * `claw skills invoke`): resolve its version, check the input against its
 * schema, publish the invocation durably to `claw.skill.<id>.invoke`, and
 * wait for the result on `claw.skill-result.<invocation id>`.
 */
import { nuid } from "@nats-io/transport-node";
import {
  decode,
  encode,
  publishDurable,
  skillInvokeSubject,
  skillResultSubject,
  type Bus,
  type SkillError,
  type SkillInvocation,
  type ToolResultMail,
} from "../bus/index.js";
import { schemaValidator, skillRef, type SkillDescriptor } from "./descriptor.js";

/** How an invocation went, as its caller sees it. */
export type InvokeOutcome =
  | { kind: "ok"; skill: string; output: unknown; durationMs: number }
  /** the skill ran and failed, or the sandbox stopped it, or no node could run it */
  | { kind: "failed"; skill: string; error: SkillError; durationMs: number }
  /** no skill, or no version in the range */
  | { kind: "unknown"; message: string }
  /** the input breaks the skill's schema */
  | { kind: "invalid_input"; message: string; field?: string }
  /** no node answered in time */
  | { kind: "timeout"; message: string };

/**
 * Invokes a skill and waits for its result (at most `timeoutMs`).
 * `unrunnable` says why no node can run it, if none can: refused at once
 * (`unavailable`) instead of waiting out the timeout.
 */
export async function invokeSkill(
  bus: Bus,
  resolve: (id: string, range: string) => SkillDescriptor | undefined,
  o: { skill: string; version?: string; input: unknown; timeoutMs: number; node?: string },
  unrunnable?: (d: SkillDescriptor) => Promise<string | undefined>,
): Promise<InvokeOutcome> {
  const d = resolve(o.skill, o.version ?? "*");
  if (!d) return { kind: "unknown", message: `no skill ${o.skill}${o.version ? ` in ${o.version}` : ""} is registered` };
  const why = await unrunnable?.(d);
  if (why) return { kind: "failed", skill: skillRef(d), error: { code: "unavailable", message: why }, durationMs: 0 };
  const check = schemaValidator(d.input);
  if (!check(o.input ?? {})) {
    const e = check.errors?.[0];
    const field = e?.instancePath
      ? `input${e.instancePath.replaceAll("/", ".")}`
      : e?.params && "missingProperty" in e.params
        ? `input.${String(e.params.missingProperty)}`
        : "input";
    return { kind: "invalid_input", message: `${field}: ${e?.message ?? "is invalid"}`, field };
  }
  const id = `inv-${nuid.next()}`;
  const replyTo = skillResultSubject(id);
  const sub = bus.nc.subscribe(replyTo, { max: 1 });
  const timer = setTimeout(() => sub.unsubscribe(), o.timeoutMs);
  try {
    const inv: SkillInvocation = { id, skill: d.id, version: d.version, input: o.input ?? {}, replyTo, deadline: Date.now() + o.timeoutMs, trace: {} };
    await publishDurable(bus.js, { subject: skillInvokeSubject(d.id), data: encode(inv), msgId: id, headers: o.node ? { "Claw-Node": o.node } : {} });
    for await (const m of sub) {
      const r = decode<ToolResultMail>(m.data);
      if (r.ok) return { kind: "ok", skill: r.skill, output: r.output, durationMs: r.durationMs };
      return { kind: "failed", skill: r.skill, error: r.error ?? { code: "exit", message: "the skill failed" }, durationMs: r.durationMs };
    }
    return { kind: "timeout", message: `no node answered within ${o.timeoutMs} ms (is a node running that can run ${skillRef(d)}?)` };
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
}
