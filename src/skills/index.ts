/**
 * Skills: what agents call as tools. The descriptor (skill.json), the registry
 * of versions in KV with files in the object store, the sandbox drivers, the
 * invocation actor and the workers that run invocations from `CLAW_SKILLS`,
 * and Claw's in-process built-ins.
 */
export { SkillFailure, type BuiltinSkill, type SkillCatalog, type SkillContext } from "./skill.js";
export { builtinSkills, echoSkill, timeNowSkill, timeSleepSkill } from "./builtin-skills.js";
export { agentsAskSkill, askMessageId, type AgentAsk, type AgentAsker } from "./agents-ask.js";
export { httpFetchSkill, MAX_BODY_BYTES, type HttpFetchOptions } from "./http-fetch.js";
export { fetchAllowlist, FetchAllowEntryError, parseFetchAllowEntry, type FetchAllowEntry, type FetchAllowlist } from "./fetch-allowlist.js";
export { createSkillCatalog, resolveVersion } from "./skill-catalog.js";
export { parseSkillDescriptor, skillRef, SkillDescriptorError, SkillDescriptorSchema, RUNTIMES, type Runtime, type SkillDescriptor } from "./descriptor.js";
export {
  openSkillRegistry,
  readSkillFolder,
  digestOf,
  type RegisteredSkill,
  type SkillFiles,
  type SkillRegistry,
  type SkillRegistryOptions,
} from "./skill-registry.js";
export {
  grantedPaths,
  NODE_OWN_ENV,
  SkillGrantSchema,
  SkillGrantsSchema,
  SkillNotGrantedError,
  SkillReservedError,
  ungranted,
  type SkillGrant,
  type SkillGrants,
} from "./skill-grants.js";
export { invocationMachine, type InvocationContext, type InvocationEvent, type InvocationInput, type InvocationResult } from "./invocation.machine.js";
export { startSkillWorkers, type SkillWorkerEvent, type SkillWorkerOptions, type SkillWorkers } from "./skill-worker.js";
export { createBubblewrapDriver, SANDBOX_UID } from "./sandbox/bubblewrap.js";
export { createProcessDriver } from "./sandbox/process-driver.js";
export { unreachableByOthers } from "./sandbox/reachable.js";
export { createWorkspaces, type Workspace, type Workspaces, type WorkspacesOptions } from "./workspaces.js";
export { measureWorkspace, MAX_WORKSPACE_ENTRIES, type QuotaWatch, type WorkspaceUsage } from "./workspace-quota.js";
export { DENIED_SYSCALLS, seccompFilter } from "./sandbox/seccomp-filter.js";
export { prepareSandboxDir, SandboxDirError, writeFileSafely, type SandboxDirs } from "./sandbox/sandbox-dir.js";
export { createDockerDriver, MAX_CONTAINER_INPUT_BYTES } from "./sandbox/docker.js";
export { dockerEndpoint } from "./sandbox/docker-endpoint.js";
export {
  openSandboxes,
  runsOn,
  runtimeSandbox,
  RUNTIME_SANDBOXES,
  type RuntimeSandbox,
  type SandboxKind,
  type SandboxSetup,
  type SandboxedRuntime,
} from "./sandbox/runtime-sandboxes.js";
export {
  driverFor,
  type NodeDrivers,
  type SandboxCheck,
  type SandboxDriver,
  type SandboxLimits,
  type SandboxResult,
  type SandboxSpec,
  type Unavailable,
} from "./sandbox/sandbox.js";
export { defineSkill, type SkillModule, type NodeSkillContext } from "./sdk.js";

export { NODE_RUNNER_JS } from "../paths.js";
export { invokeSkill, type InvokeOutcome } from "./skill-client.js";
export { AgentHooksSchema, hooksFor, runAfter, runBefore, type AgentHooks, type CallHooks, type HookCall, type RunHook } from "./skill-hooks.js";
export { builtinHooks, redactSecrets, redactValue, REDACTED, type AuditSink } from "./builtin-hooks.js";
