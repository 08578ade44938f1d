/**
 * The effects of an invocation actor: validate (the skill, its version, its
 * driver, its permissions, its input), run (in process for built-ins, else
 * in the sandbox of its runtime), verify the output, answer the caller (its
 * session's mailbox, durably, or a waiter's subject).
 */
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import {
  encode,
  H,
  MAIL,
  parseSessionSubject,
  publishDurable,
  type Bus,
  type SkillError,
  type ToolResultMail,
} from "../bus/index.js";
import type { SkillDescriptor } from "./descriptor.js";
import { schemaValidator, skillRef } from "./descriptor.js";
import type { InvocationContext, InvocationEvent } from "./invocation.machine.js";
import { driverFor, type NodeDrivers, type SandboxDriver, type SandboxResult } from "./sandbox/sandbox.js";
import { SkillFailure, type BuiltinSkill } from "./skill.js";
import { grantedPaths, NODE_OWN_ENV, SkillNotGrantedError, ungranted, type SkillGrants } from "./skill-grants.js";
import type { Workspaces } from "./workspaces.js";
import { MAX_WORKSPACE_ENTRIES, type WorkspaceUsage } from "./workspace-quota.js";
import type { RegisteredSkill, SkillRegistry } from "./skill-registry.js";

/** What the effects need of the node. */
export interface InvocationDeps {
  bus: Bus;
  nodeId: string;
  registry: Pick<SkillRegistry, "resolve" | "materialize">;
  builtins: ReadonlyMap<string, BuiltinSkill>;
  /** the sandbox driver for `node` and `process` skills, and for `container` skills (or why there is none) */
  drivers: NodeDrivers;
  /** where runs get their `/work`: made, bounded by a quota, removed */
  workspaces: Pick<Workspaces, "open" | "watch" | "release"> & { quotaBytes: number };
  /** the folder holding `node-runner.mjs`, the harness of `node` skills (mounted read-only at /claw) */
  runnerDir: string;
  /** the node's environment (granted env vars and `CLAW_SECRET_<NAME>` secrets are taken from it) */
  env: NodeJS.ProcessEnv;
  /** what the node's owner lets each skill have of the node (`skillGrants`): checked here again, since the node that registered a skill may have had other grants */
  grants: SkillGrants;
  /** aborted when the invocation is cancelled */
  cancelled(id: string): AbortSignal;
}

const failure = (code: string, message: string): SkillError => ({ code, message });
/** A run ends this long before its caller's deadline: time to publish the result. */
const DEADLINE_MARGIN_MS = 300;
const tail = (s: string) => (s.length > 2_000 ? `…${s.slice(-2_000)}` : s).trim();

/** The environment a skill is given (its grants, checked before): its variables, and its secrets by name; a missing secret is refused. */
function skillEnv(d: SkillDescriptor, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  // never the node's own, whatever got past the grant check
  for (const name of d.permissions.env) if (env[name] !== undefined && !NODE_OWN_ENV.test(name)) out[name] = env[name]!;
  for (const name of d.permissions.secrets) {
    const v = env[`CLAW_SECRET_${name}`];
    if (v === undefined) throw new SkillFailure("denied", `the skill needs secret ${name}, which this node does not have (CLAW_SECRET_${name})`);
    out[name] = v;
  }
  return out;
}

/** Why a run failed `quota`: its workspace reached the node's quota (a session's stays full until something is deleted). */
function quotaMessage(d: SkillDescriptor, u: WorkspaceUsage, quota: number, kept: boolean): string {
  const mb = (b: number) => `${Math.round((b / 1048576) * 10) / 10} MB`;
  const held = u.complete ? mb(u.bytes) : `more than ${MAX_WORKSPACE_ENTRIES} files`;
  return `${skillRef(d)} filled its workspace to its quota of ${mb(quota)} (it holds ${held}; CLAW_WORKSPACE_QUOTA_MB): stopped${kept ? " — the session's workspace stays full until files are deleted" : ""}`;
}

/** What a sandboxed run's end means for the caller. */
function fromSandbox(d: SkillDescriptor, r: SandboxResult): { output: unknown } | { error: SkillError } {
  const name = skillRef(d);
  if (r.stopped === "timeout") return { error: failure("timeout", `${name} did not finish within ${d.limits.timeoutMs} ms: stopped`) };
  if (r.stopped === "memory") return { error: failure("memory", `${name} used more than its ${d.limits.memoryMb} MB: stopped`) };
  if (r.stopped === "output") return { error: failure("output_invalid", `${name} printed more than ${d.limits.outputBytes} bytes: stopped`) };
  if (r.stopped === "cancelled") return { error: failure("cancelled", `${name} was cancelled by its caller`) };
  if (r.exitCode !== 0) return { error: failure("exit", `${name} exited with ${r.exitCode ?? r.signal}${r.stderr ? `: ${tail(r.stderr)}` : ""}`) };
  try {
    return { output: r.stdout.trim() === "" ? null : JSON.parse(r.stdout) };
  } catch (e) {
    return { error: failure("output_invalid", `${name} did not print JSON: ${(e as Error).message}`) };
  }
}

/** Creates the effects. */
export function invocationEffects(deps: InvocationDeps) {
  const resolved = new Map<string, RegisteredSkill>();

  const resolve = (c: InvocationContext) => {
    const s = deps.registry.resolve(c.invocation.skill, c.invocation.version ?? "*");
    if (s) resolved.set(c.invocation.id, s);
    return s;
  };

  const validate = async (c: InvocationContext): Promise<InvocationEvent> => {
    const inv = c.invocation;
    const s = resolve(c);
    if (!s) return { type: "invocation.refused", error: failure("unknown_skill", `no skill ${inv.skill}${inv.version ? `@${inv.version}` : ""} is registered`) };
    const d = s.descriptor;
    const skill = skillRef(d);
    if (Date.now() >= inv.deadline) return { type: "invocation.refused", skill, error: failure("timeout", "the invocation's deadline passed before it could run") };
    // delivered again: the node running it died mid-run; only an idempotent skill runs twice
    if (c.deliveries > 1 && !d.idempotent) return { type: "invocation.refused", skill, error: failure("crashed", `the node running ${skill} died during the run, and the skill is not idempotent: not run again`) };
    const driver = driverFor(deps.drivers, d.runtime);
    if (driver) {
      if ("unavailable" in driver) return { type: "invocation.refused", skill, error: failure("unavailable", driver.unavailable) };
      if (d.permissions.network !== "none") {
        return { type: "invocation.refused", skill, error: failure("denied", `${skill} asks for network access (${d.permissions.network.allow.join(", ")}); sandboxed skills run without network on this node — use the built-in http.fetch`) };
      }
    }
    const refused = ungranted(d, deps.grants);
    if (refused) return { type: "invocation.refused", skill, error: failure("denied", `${skill} on node ${deps.nodeId}: ${refused.message}`) };
    const check = schemaValidator(d.input);
    if (!check(inv.input ?? {})) {
      const e = check.errors?.[0];
      return { type: "invocation.refused", skill, error: failure("invalid_input", `input${e?.instancePath ? e.instancePath.replaceAll("/", ".") : ""} ${e?.message ?? "is invalid"}`) };
    }
    return { type: "invocation.valid", skill };
  };

  /** Runs a sandboxed skill in its workspace (a fresh one, or its calling session's), within the workspace's quota. */
  async function sandboxed(c: InvocationContext, s: RegisteredSkill): Promise<InvocationEvent> {
    const d = s.descriptor;
    const driver = driverFor(deps.drivers, d.runtime) as SandboxDriver;
    const env = skillEnv(d, deps.env);
    // bubblewrap would fail on a missing path, a container engine would make it (as root): refused before either
    for (const p of d.permissions.filesystem.readOnly) {
      if (!existsSync(p)) throw new SkillFailure("denied", `${p}, a read-only path ${skillRef(d)} asks for, does not exist on this node`);
    }
    // mounted from where each really is, checked against the grant there: no link leads out of a granted folder
    const readOnly = await grantedPaths(d, deps.grants).catch((e: unknown) => {
      throw new SkillFailure("denied", e instanceof SkillNotGrantedError ? e.message : `${skillRef(d)}: ${(e as Error).message}`);
    });
    const dir = d.runtime === "container" ? undefined : await deps.registry.materialize(s);
    const ws = await deps.workspaces.open(d.permissions.filesystem.workspace === "session" ? c.invocation.session : undefined);
    try {
      const entry = d.entrypoint ?? [];
      // a container's command is the image's business (none: the image's own); it has no skill files mounted
      const command =
        d.runtime === "node"
          ? [process.execPath, "/claw/node-runner.mjs", `/skill/${entry[0]}`, ...entry.slice(1)]
          : d.runtime === "container"
            ? entry
            : entry.map((a, i) => (i === 0 && !a.startsWith("/") ? `/skill/${a}` : a.startsWith("./") ? `/skill/${a.slice(2)}` : a));
      const mounts = [
        ...(dir ? [{ host: dir, at: "/skill" }] : []),
        ...(d.runtime === "node" ? [{ host: deps.runnerDir, at: "/claw" }, ...(process.execPath.startsWith("/usr/") ? [] : [{ host: dirname(process.execPath), at: dirname(process.execPath) }])] : []),
        ...readOnly.map((p) => ({ host: p.real, at: p.path })),
      ];
      const quota = await deps.workspaces.watch(ws);
      // stopped a moment before the caller's deadline, so that it still hears why; no file grows past what is left of the quota
      const limits = { ...d.limits, timeoutMs: Math.max(1, Math.min(d.limits.timeoutMs, c.invocation.deadline - Date.now() - DEADLINE_MARGIN_MS)), fileBytes: quota.allowance };
      const signal = AbortSignal.any([deps.cancelled(c.invocation.id), quota.signal]);
      const r = await driver.run({ command, image: d.image, stdin: JSON.stringify(c.invocation.input ?? {}), env, workspace: ws.path, mounts, network: "none", limits, signal }).finally(() => quota.end());
      // measured after the run: a quota reached is the answer, whatever the run said (a write refused for size makes it fail oddly)
      const used = await quota.end();
      if (used.full) return { type: "run.failed", retryable: false, durationMs: r.durationMs, error: failure("quota", quotaMessage(d, used.usage, deps.workspaces.quotaBytes, ws.session !== undefined)) };
      const end = fromSandbox(d, r);
      if ("error" in end) return { type: "run.failed", retryable: false, durationMs: r.durationMs, error: end.error };
      return { type: "run.succeeded", output: end.output, durationMs: r.durationMs };
    } finally {
      await deps.workspaces.release(ws).catch(() => undefined);
    }
  }

  const run = async (c: InvocationContext): Promise<InvocationEvent> => {
    const s = resolved.get(c.invocation.id)!;
    const d = s.descriptor;
    const started = performance.now();
    const signal = AbortSignal.any([deps.cancelled(c.invocation.id), AbortSignal.timeout(Math.max(0, Math.min(c.invocation.deadline - Date.now() - DEADLINE_MARGIN_MS, d.limits.timeoutMs)))]);
    const ms = () => Math.round(performance.now() - started);
    try {
      if (d.runtime !== "builtin") return await sandboxed(c, s);
      const b = deps.builtins.get(d.id);
      if (!b) return { type: "run.failed", retryable: false, durationMs: ms(), error: failure("unavailable", `${skillRef(d)} is not built into this node`) };
      const cancelled = deps.cancelled(c.invocation.id);
      const aborted = new Promise<never>((_, reject) =>
        signal.addEventListener(
          "abort",
          () => reject(cancelled.aborted ? new SkillFailure("cancelled", `${skillRef(d)} was cancelled by its caller`) : new SkillFailure("timeout", `${skillRef(d)} did not finish in time`)),
          { once: true },
        ),
      );
      return { type: "run.succeeded", output: await Promise.race([b.run(c.invocation.input ?? {}, { signal, deadline: c.invocation.deadline }), aborted]), durationMs: ms() };
    } catch (e) {
      if (e instanceof SkillFailure) return { type: "run.failed", retryable: false, durationMs: ms(), error: failure(e.code, e.message) };
      // the sandbox could not be set up (its files, the driver): worth another try while attempts are left
      return { type: "run.failed", retryable: c.attempt < d.retry.attempts, durationMs: ms(), error: failure(d.runtime === "builtin" ? "exit" : "unavailable", `${skillRef(d)}: ${(e as Error)?.message ?? String(e)}`) };
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
    return { type: "output.checked", error: failure("output_invalid", `output${e?.instancePath ? e.instancePath.replaceAll("/", ".") : ""} ${e?.message ?? "is invalid"}`) };
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
