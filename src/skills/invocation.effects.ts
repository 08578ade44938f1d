/**
 * The effects of an invocation actor: validate (the skill, its version, its
 * driver, its permissions, its input: invocation-check.ts), run (in process
 * for built-ins, else in the sandbox of its runtime: sandboxed-run.ts),
 * verify the output, answer the caller (its session's mailbox, durably, or a
 * waiter's subject).
 */
import { encode, H, MAIL, parseSessionSubject, publishDurable, type Bus, type ToolResultMail } from "../bus/index.js";
import { schemaValidator, skillRef, type SkillDescriptor } from "./descriptor.js";
import { checkInvocation, type InvocationCheckDeps } from "./invocation-check.js";
import type { InvocationContext, InvocationEvent } from "./invocation.machine.js";
import { runSandboxed, type SandboxedRunDeps } from "./sandboxed-run.js";
import { hooksFor, runAfter, runBefore, type AgentHooks, type CallHooks, type HookCall, type RunHook } from "./skill-hooks.js";
import { invokeSkill } from "./skill-client.js";
import { DEADLINE_MARGIN_MS, SkillFailure, skillError, type BuiltinSkill } from "./skill.js";
import type { RegisteredSkill, SkillRegistry } from "./skill-registry.js";

/** What the effects need of the node. */
export interface InvocationDeps extends InvocationCheckDeps, SandboxedRunDeps {
  bus: Bus;
  registry: Pick<SkillRegistry, "resolve" | "materialize">;
  builtins: ReadonlyMap<string, BuiltinSkill>;
  /** an agent's `hooks` (skill-hooks.ts), run around its sessions' tool calls */
  agentHooks?(agent: string): AgentHooks | undefined;
  /** an output with media bytes inline (`media[].data`) as it leaves the node: the bytes kept, a `url` instead (src/media) */
  externalizeMedia?(output: unknown): Promise<unknown>;
}

/** Runs a built-in skill in the node's process until it ends, its deadline (less the margin) passes or its caller cancels it. */
async function runBuiltin(deps: InvocationDeps, c: InvocationContext, s: RegisteredSkill, input: unknown): Promise<unknown> {
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
  return Promise.race([b.run(input ?? {}, { signal, deadline: c.invocation.deadline, invocation: c.invocation }), aborted]);
}

/** The hooks of the call's agent (found from its session's mailbox) and what they are told of it; none for a call from outside a session. */
function callHooks(deps: InvocationDeps, c: InvocationContext, skill: string): { hooks: CallHooks; call: HookCall } | undefined {
  const agent = parseSessionSubject(c.invocation.replyTo)?.agent;
  const hooks = agent ? hooksFor(deps.agentHooks?.(agent), skill) : undefined;
  if (!agent || !hooks || (hooks.before.length === 0 && hooks.after.length === 0)) return undefined;
  return { hooks, call: { skill, input: c.invocation.input, agent, ...(c.invocation.session ? { session: c.invocation.session } : {}) } };
}

/** Runs a hook skill: a built-in in this process, any other on whichever node can, within the call's deadline. */
function hookRunner(deps: InvocationDeps, c: InvocationContext): RunHook {
  return async (hook, input) => {
    const { id, range } = parseHookRef(hook);
    const b = deps.builtins.get(id);
    const signal = deps.cancelled(c.invocation.id);
    if (b) return b.run(input, { signal, deadline: c.invocation.deadline, invocation: { ...c.invocation, skill: id, input } });
    const timeoutMs = Math.max(1, c.invocation.deadline - Date.now() - DEADLINE_MARGIN_MS);
    const r = await invokeSkill(deps.bus, (i, v) => deps.registry.resolve(i, v)?.descriptor, { skill: id, version: range, input, timeoutMs });
    if (r.kind === "ok") return r.output;
    throw new SkillFailure(r.kind === "failed" ? r.error.code : r.kind, r.kind === "failed" ? r.error.message : r.message);
  };
}

/** `id` and range of `id@range` (`*` when none is given). */
function parseHookRef(ref: string): { id: string; range: string } {
  const at = ref.indexOf("@");
  return at === -1 ? { id: ref, range: "*" } : { id: ref.slice(0, at), range: ref.slice(at + 1) };
}

/** Refuses an input (a hook's) that breaks the skill's schema. */
function checkInput(d: SkillDescriptor, input: unknown): void {
  const check = schemaValidator(d.input);
  if (check(input ?? {})) return;
  const e = check.errors?.[0];
  throw new SkillFailure(
    "hook_failed",
    `a before hook gave input that breaks ${skillRef(d)}'s schema: input${e?.instancePath?.replaceAll("/", ".") ?? ""} ${e?.message ?? "is invalid"}`,
  );
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
    const hooked = callHooks(deps, c, d.id);
    try {
      const runHook = hooked ? hookRunner(deps, c) : undefined;
      const input = hooked ? await runBefore(hooked.hooks.before, hooked.call, runHook!) : c.invocation.input;
      // an input a hook changed is held to the skill's schema like the caller's
      if (hooked && input !== c.invocation.input) checkInput(d, input);
      const ran: InvocationEvent =
        d.runtime !== "builtin"
          ? await runSandboxed(deps, { ...c, invocation: { ...c.invocation, input } }, s)
          : { type: "run.succeeded", output: await runBuiltin(deps, c, s, input), durationMs: ms() };
      if (!hooked || ran.type !== "run.succeeded" || hooked.hooks.after.length === 0) return ran;
      return { ...ran, output: await runAfter(hooked.hooks.after, { ...hooked.call, input }, ran.output, runHook!), durationMs: ms() };
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
    try {
      // media bytes never travel in the mail, the snapshot or the model's context: kept once, linked
      const output = r.ok && deps.externalizeMedia ? await deps.externalizeMedia(r.output) : r.ok ? r.output : undefined;
      const mail: ToolResultMail = {
        type: "tool.result",
        callId: inv.id,
        skill: c.skill ?? inv.skill,
        ok: r.ok,
        ...(r.ok ? { output } : { error: r.error }),
        durationMs: c.durationMs,
      };
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
