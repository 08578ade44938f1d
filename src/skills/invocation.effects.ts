/**
 * The effects of an invocation actor: validate (the skill, its version, its
 * driver, its permissions, its input: invocation-check.ts), run (in process
 * for built-ins, else in the sandbox of its runtime: sandboxed-run.ts),
 * verify the output, answer the caller (its session's mailbox, durably, or a
 * waiter's subject).
 */
import { encode, H, MAIL, parseSessionSubject, publishDurable, type Bus, type ToolResultMail } from "../bus/index.js";
import { schemaValidator, skillRef } from "./descriptor.js";
import { checkInvocation, type InvocationCheckDeps } from "./invocation-check.js";
import type { InvocationContext, InvocationEvent } from "./invocation.machine.js";
import { runSandboxed, type SandboxedRunDeps } from "./sandboxed-run.js";
import { DEADLINE_MARGIN_MS, SkillFailure, skillError, type BuiltinSkill } from "./skill.js";
import type { RegisteredSkill, SkillRegistry } from "./skill-registry.js";

/** What the effects need of the node. */
export interface InvocationDeps extends InvocationCheckDeps, SandboxedRunDeps {
  bus: Bus;
  registry: Pick<SkillRegistry, "resolve" | "materialize">;
  builtins: ReadonlyMap<string, BuiltinSkill>;
}

/** Runs a built-in skill in the node's process until it ends, its deadline (less the margin) passes or its caller cancels it. */
async function runBuiltin(deps: InvocationDeps, c: InvocationContext, s: RegisteredSkill): Promise<unknown> {
  const d = s.descriptor;
  const b = deps.builtins.get(d.id);
  if (!b) throw new SkillFailure("unavailable", `${skillRef(d)} is not built into this node`);
  const cancelled = deps.cancelled(c.invocation.id);
  const signal = AbortSignal.any([
    cancelled,
    AbortSignal.timeout(Math.max(0, Math.min(c.invocation.deadline - Date.now() - DEADLINE_MARGIN_MS, d.limits.timeoutMs))),
  ]);
  const aborted = new Promise<never>((_, reject) =>
    signal.addEventListener(
      "abort",
      () =>
        reject(
          cancelled.aborted
            ? new SkillFailure("cancelled", `${skillRef(d)} was cancelled by its caller`)
            : new SkillFailure("timeout", `${skillRef(d)} did not finish in time`),
        ),
      { once: true },
    ),
  );
  return Promise.race([b.run(c.invocation.input ?? {}, { signal, deadline: c.invocation.deadline, invocation: c.invocation }), aborted]);
}

/** Creates the effects. */
export function invocationEffects(deps: InvocationDeps) {
  /** the skill each invocation resolved to when validated, until it is answered */
  const resolved = new Map<string, RegisteredSkill>();

  const validate = async (c: InvocationContext): Promise<InvocationEvent> => {
    const s = deps.registry.resolve(c.invocation.skill, c.invocation.version ?? "*");
    if (s) resolved.set(c.invocation.id, s);
    return checkInvocation(c, s?.descriptor, deps);
  };

  const run = async (c: InvocationContext): Promise<InvocationEvent> => {
    const s = resolved.get(c.invocation.id)!;
    const d = s.descriptor;
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    try {
      if (d.runtime !== "builtin") return await runSandboxed(deps, c, s);
      return { type: "run.succeeded", output: await runBuiltin(deps, c, s), durationMs: ms() };
    } catch (e) {
      if (e instanceof SkillFailure) return { type: "run.failed", retryable: false, durationMs: ms(), error: skillError(e.code, e.message) };
      // the sandbox could not be set up (its files, the driver): worth another try while attempts are left
      return {
        type: "run.failed",
        retryable: c.attempt < d.retry.attempts,
        durationMs: ms(),
        error: skillError(d.runtime === "builtin" ? "exit" : "unavailable", `${skillRef(d)}: ${(e as Error)?.message ?? String(e)}`),
      };
    }
  };

  const wait = async (c: InvocationContext): Promise<InvocationEvent> => {
    const d = resolved.get(c.invocation.id)!.descriptor;
    await new Promise((r) => setTimeout(r, d.retry.backoffMs * 2 ** Math.max(0, c.attempt - 1)));
    return { type: "backoff.elapsed" };
  };

  const verify = async (c: InvocationContext): Promise<InvocationEvent> => {
    const d = resolved.get(c.invocation.id)!.descriptor;
    if (!d.output) return { type: "output.checked" };
    const check = schemaValidator(d.output);
    if (check(c.output)) return { type: "output.checked" };
    const e = check.errors?.[0];
    return {
      type: "output.checked",
      error: skillError("output_invalid", `output${e?.instancePath ? e.instancePath.replaceAll("/", ".") : ""} ${e?.message ?? "is invalid"}`),
    };
  };

  const answer = async (c: InvocationContext): Promise<InvocationEvent> => {
    const inv = c.invocation;
    const r = c.result!;
    const mail: ToolResultMail = {
      type: "tool.result",
      callId: inv.id,
      skill: c.skill ?? inv.skill,
      ok: r.ok,
      ...(r.ok ? { output: r.output } : { error: r.error }),
      durationMs: c.durationMs,
    };
    try {
      const headers: Record<string, string> = { [H.node]: deps.nodeId, [H.mail]: MAIL.toolResult };
      if (inv.trace.traceparent) headers[H.traceparent] = inv.trace.traceparent;
      if (parseSessionSubject(inv.replyTo)) {
        await publishDurable(deps.bus.publisher, { subject: inv.replyTo, data: encode(mail), msgId: `${inv.id}:result`, headers });
      } else {
        // a waiter (HTTP invoke, the CLI) listens on core NATS
        deps.bus.nc.publish(inv.replyTo, encode(mail));
      }
      return { type: "result.published" };
    } catch (e) {
      return { type: "result.unpublished", error: (e as Error).message };
    } finally {
      resolved.delete(inv.id);
    }
  };

  return { validate, run, wait, verify, answer };
}
