/**
 * One run of a sandboxed skill (runtimes `node`, `process`, `container`): in
 * its workspace (a fresh one, or its calling session's) within the
 * workspace's quota, with only what it was granted — its variables and
 * secrets, its read-only paths as they really are — and its end read as the
 * invocation machine's next event.
 */
import { existsSync } from "node:fs";
import type { SkillError } from "../bus/index.js";
import type { SkillDescriptor } from "./descriptor.js";
import { skillRef } from "./descriptor.js";
import type { InvocationContext, InvocationEvent } from "./invocation.machine.js";
import { runtimeSandbox } from "./sandbox/runtime-sandboxes.js";
import { driverFor, type NodeDrivers, type SandboxResult } from "./sandbox/sandbox.js";
import { DEADLINE_MARGIN_MS, SkillFailure, skillError } from "./skill.js";
import { grantedPaths, NODE_OWN_ENV, SkillNotGrantedError, type SkillGrants } from "./skill-grants.js";
import type { RegisteredSkill, SkillRegistry } from "./skill-registry.js";
import { MAX_WORKSPACE_ENTRIES, type WorkspaceUsage } from "./workspace-quota.js";
import type { Workspaces } from "./workspaces.js";

/** What a sandboxed run needs of the node. */
export interface SandboxedRunDeps {
  registry: Pick<SkillRegistry, "materialize">;
  /** the sandbox driver of each runtime this node has (or why it has none) */
  drivers: NodeDrivers;
  /** where runs get their `/work`: made, bounded by a quota, removed */
  workspaces: Pick<Workspaces, "open" | "watch" | "release"> & { quotaBytes: number };
  /** the folder holding `node-runner.mjs`, the harness of `node` skills (mounted read-only at /claw) */
  runnerDir: string;
  /** the node's environment (granted env vars and `CLAW_SECRET_<NAME>` secrets are taken from it) */
  env: NodeJS.ProcessEnv;
  /**
   * what the node's owner lets each skill have of the node (`skillGrants`): checked here again, since the node that registered a skill may have had other
   * grants
   */
  grants: SkillGrants;
  /** aborted when the invocation is cancelled */
  cancelled(id: string): AbortSignal;
}

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
  return (
    `${skillRef(d)} filled its workspace to its quota of ${mb(quota)} (it holds ${held}; CLAW_WORKSPACE_QUOTA_MB): ` +
    `stopped${kept ? " — the session's workspace stays full until files are deleted" : ""}`
  );
}

/** What a sandboxed run's end means for the caller. */
function fromSandbox(d: SkillDescriptor, r: SandboxResult): { output: unknown } | { error: SkillError } {
  const name = skillRef(d);
  if (r.stopped === "timeout") return { error: skillError("timeout", `${name} did not finish within ${d.limits.timeoutMs} ms: stopped`) };
  if (r.stopped === "memory") return { error: skillError("memory", `${name} used more than its ${d.limits.memoryMb} MB: stopped`) };
  if (r.stopped === "output") return { error: skillError("output_invalid", `${name} printed more than ${d.limits.outputBytes} bytes: stopped`) };
  if (r.stopped === "cancelled") return { error: skillError("cancelled", `${name} was cancelled by its caller`) };
  if (r.exitCode !== 0) return { error: skillError("exit", `${name} exited with ${r.exitCode ?? r.signal}${r.stderr ? `: ${tail(r.stderr)}` : ""}`) };
  try {
    return { output: r.stdout.trim() === "" ? null : JSON.parse(r.stdout) };
  } catch (e) {
    return { error: skillError("output_invalid", `${name} did not print JSON: ${(e as Error).message}`) };
  }
}

/**
 * Runs a sandboxed skill in its workspace (a fresh one, or its calling
 * session's), within the workspace's quota. Throws {@link SkillFailure} when
 * it is refused before it runs, and whatever setting the sandbox up threw.
 */
export async function runSandboxed(deps: SandboxedRunDeps, c: InvocationContext, s: RegisteredSkill): Promise<InvocationEvent> {
  const d = s.descriptor;
  const driver = driverFor(deps.drivers, d.runtime);
  const how = runtimeSandbox(d.runtime);
  // validated before: a driver this node has, for a sandboxed runtime
  if (!driver || "unavailable" in driver || !how) throw new SkillFailure("unavailable", `${skillRef(d)}: no sandbox for runtime ${d.runtime} on this node`);
  const env = skillEnv(d, deps.env);
  // bubblewrap would fail on a missing path, a container engine would make it (as root): refused before either
  for (const p of d.permissions.filesystem.readOnly) {
    if (!existsSync(p)) throw new SkillFailure("denied", `${p}, a read-only path ${skillRef(d)} asks for, does not exist on this node`);
  }
  // mounted from where each really is, checked against the grant there: no link leads out of a granted folder
  const readOnly = await grantedPaths(d, deps.grants).catch((e: unknown) => {
    throw new SkillFailure("denied", e instanceof SkillNotGrantedError ? e.message : `${skillRef(d)}: ${(e as Error).message}`);
  });
  const dir = how.files ? await deps.registry.materialize(s) : undefined;
  const ws = await deps.workspaces.open(d.permissions.filesystem.workspace === "session" ? c.invocation.session : undefined);
  try {
    const command = how.command(d.entrypoint ?? []);
    const mounts = [...(dir ? [{ host: dir, at: "/skill" }] : []), ...how.mounts(deps.runnerDir), ...readOnly.map((p) => ({ host: p.real, at: p.path }))];
    const quota = await deps.workspaces.watch(ws);
    // stopped a moment before the caller's deadline, so that it still hears why; no file grows past what is left of the quota
    const limits = {
      ...d.limits,
      timeoutMs: Math.max(1, Math.min(d.limits.timeoutMs, c.invocation.deadline - Date.now() - DEADLINE_MARGIN_MS)),
      fileBytes: quota.allowance,
    };
    const signal = AbortSignal.any([deps.cancelled(c.invocation.id), quota.signal]);
    const r = await driver
      .run({ command, image: d.image, stdin: JSON.stringify(c.invocation.input ?? {}), env, workspace: ws.path, mounts, network: "none", limits, signal })
      .finally(() => quota.end());
    // measured after the run: a quota reached is the answer, whatever the run said (a write refused for size makes it fail oddly)
    const used = await quota.end();
    if (used.full)
      return {
        type: "run.failed",
        retryable: false,
        durationMs: r.durationMs,
        error: skillError("quota", quotaMessage(d, used.usage, deps.workspaces.quotaBytes, ws.session !== undefined)),
      };
    const end = fromSandbox(d, r);
    if ("error" in end) return { type: "run.failed", retryable: false, durationMs: r.durationMs, error: end.error };
    return { type: "run.succeeded", output: end.output, durationMs: r.durationMs };
  } finally {
    await deps.workspaces.release(ws).catch(() => undefined);
  }
}
