/**
 * A node's skills: the registry (KV `claw_registry` + object store), Claw's
 * own skills registered into it (the in-process built-ins and the `skills/`
 * folder), the sandbox drivers this node has — checked once, and said at
 * start — and the workers that run the invocations of every skill whose
 * runtime can run here. A skill no live node can run is refused at once,
 * with why, instead of waiting out its caller's timeout.
 */
import { readdir, readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Objm } from "@nats-io/obj";
import type { AnyActorRef } from "xstate";
import { BUCKETS, OBJECT_STORES, type BackoffPolicy, type Bus } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import type { Logger } from "../log.js";
import { createHostResolver } from "../net/index.js";
import {
  builtinSkills,
  NODE_RUNNER_JS,
  openSkillRegistry,
  invokeSkill,
  readSkillFolder,
  skillRef,
  startSkillWorkers,
  type RegisteredSkill,
  driverFor,
  openSandboxes,
  runsOn,
  type SkillCatalog,
  type SkillDescriptor,
  type SkillRegistry,
  type SkillWorkerEvent,
  type SkillWorkers,
  ungranted,
  prepareSandboxDir,
  writeFileSafely,
  createWorkspaces,
} from "../skills/index.js";
import type { SkillDirectory } from "../gateway/index.js";
import type { AgentRegistry } from "../actors/index.js";
import { agentAsker } from "./agent-asker.js";
import type { ScheduleStore } from "../schedules/index.js";
import { memorySkills, type MemoryDeps } from "../memory/index.js";
import { createAudit } from "../observability/index.js";
import type { NodeMedia } from "./node-media.js";
import type { MemberInfo } from "./membership.js";

/** What {@link startNodeSkills} gives the node. */
export interface NodeSkills {
  registry: SkillRegistry;
  /** the registry as agents' tools see it */
  catalog: SkillCatalog;
  workers: SkillWorkers;
  /** the sandbox drivers this node has (its heartbeat says them) */
  sandboxes: string[];
  /** `/v1/skills`: the registry's versions, registration, and invocations (refused at once when no live member can run the skill) */
  directory(members: () => Promise<Map<string, MemberInfo>>): SkillDirectory;
  stop(): Promise<void>;
}

/** Options of {@link startNodeSkills}. */
export interface NodeSkillsOptions {
  bus: Bus;
  config: ClawConfig;
  log: Logger;
  backoff: BackoffPolicy;
  /** the agents `agents.ask` may ask */
  agents: Pick<AgentRegistry, "get">;
  /** the schedules the `schedule.*` skills make, list and cancel */
  schedules: ScheduleStore;
  /** the memories the `memory.*` skills read and write */
  memory: MemoryDeps;
  /** where the media bytes of skills' outputs are kept and linked */
  media: Pick<NodeMedia, "externalize">;
  inspection?: { register(kind: "skill", id: string, actor: AnyActorRef): void; forget(kind: "skill", id: string): void };
  onEvent: (e: SkillWorkerEvent) => void;
}

/** The folders of `skills/` that hold a `skill.json` (the template, `_template`, is not a skill). */
async function shippedSkills(dir: string): Promise<string[]> {
  if (!dir || !existsSync(dir)) return [];
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith("_") && existsSync(join(dir, e.name, "skill.json"))).map((e) => join(dir, e.name));
}

/** Opens the registry, registers Claw's own skills, checks the drivers and starts the workers. */
export async function startNodeSkills(o: NodeSkillsOptions): Promise<NodeSkills> {
  const { config, log } = o;
  // made (or checked) so that no other local user has a say in it: refused at start otherwise
  const { base, runnerDir, cacheDir, workDir } = await prepareSandboxDir(config.sandboxDir);
  // the harness of node skills as an ES module wherever it is mounted (no package.json says "module" there); never written through a link
  await writeFileSafely(join(runnerDir, "node-runner.mjs"), await readFile(NODE_RUNNER_JS));
  const kv = await o.bus.kvm.open(BUCKETS.registry);
  const objects = await new Objm(o.bus.js).open(OBJECT_STORES.skillFiles);
  const shipped = await Promise.all((await shippedSkills(config.skillsDir)).map((dir) => readSkillFolder(dir)));
  const asker = agentAsker({
    bus: o.bus,
    nodeId: config.nodeId,
    maxPayload: config.maxPayload,
    duplicateWindowMs: config.duplicateWindowMs,
    maxDepth: config.maxAgentDepth,
    agent: (id) => o.agents.get(id)?.spec,
  });
  const resolver = createHostResolver({ servers: config.dnsServers });
  const builtins = [
    ...builtinSkills(
      { allow: config.httpFetchAllow, resolver },
      {
        asker,
        schedules: o.schedules,
        browser: { allow: config.browserAllow, resolver, executable: config.browserExecutable, runnerDir },
        audit: createAudit(o.bus.publisher, { source: "skills", node: config.nodeId }),
      },
    ),
    ...memorySkills(o.memory),
  ];
  const registry = await openSkillRegistry(kv, objects, cacheDir, {
    onError: (e) => log.warn({ err: e }, "skill registry entry ignored"),
    // ids no API registration may take: ours, even before they are registered
    reserved: shipped.map((s) => (s.descriptor as { id?: unknown }).id).filter((id): id is string => typeof id === "string"),
    grants: config.skillGrants,
  });
  for (const b of builtins) await registry.register(b.descriptor, {}, "builtin");
  for (const { descriptor, files } of shipped) {
    const { skill } = await registry.register(descriptor, files, "builtin");
    // the owner's own skills are held to the owner's grants too: said now rather than at the first call
    const refused = ungranted(skill.descriptor, config.skillGrants);
    if (refused)
      log.warn(
        { skill: skillRef(skill.descriptor), reason: refused.message },
        "a shipped skill asks for what this node does not grant it: its invocations will be refused",
      );
  }

  // each runtime's sandbox, checked once and said at start (runtime-sandboxes.ts)
  const { drivers, names: sandboxes } = await openSandboxes(
    { unsandboxed: config.sandbox === "process", dockerHost: config.dockerHost, sandboxDir: base, warn: (m) => log.warn(m) },
    log,
  );

  // a session's workspace lives on while the session does (its last turn is its snapshot's last write), then its TTL
  const sessions = await o.bus.kvm.open(BUCKETS.sessions);
  const workspaces = createWorkspaces({
    dir: workDir,
    quotaBytes: config.workspaceQuotaBytes,
    ttlMs: config.workspaceTtlMs,
    idleMs: config.idleMs,
    lastTurn: async (session) => (await sessions.get(session).catch(() => null))?.created.getTime(),
    onRemoved: (e) => log.info({ session: e.session, path: e.path }, "skill workspace removed: its session was passivated longer than CLAW_WORKSPACE_TTL"),
  });
  const workers = await startSkillWorkers({
    bus: o.bus,
    nodeId: config.nodeId,
    registry,
    builtins: new Map(builtins.map((b) => [b.descriptor.id, b])),
    drivers,
    workspaces,
    runnerDir,
    env: process.env,
    grants: config.skillGrants,
    agentHooks: (id) => o.agents.get(id)?.spec.hooks,
    externalizeMedia: (output) => o.media.externalize(output),
    consumer: { ackWaitMs: config.ackWaitMs, maxAckPending: 64 },
    backoff: o.backoff,
    inspection: o.inspection,
    onEvent: o.onEvent,
  });
  const catalog: SkillCatalog = {
    list: () => registry.list().map((s) => s.descriptor),
    resolve: (id, range) => registry.resolve(id, range)?.descriptor,
  };
  return {
    registry,
    catalog,
    workers,
    sandboxes,
    directory(members) {
      /**
       * Why no live member can run `d` (with this node's own reason), or
       * undefined when one can: nodes pull only the skills they can run, so an
       * invocation none can run would otherwise wait out its timeout.
       */
      const unrunnable = async (d: SkillDescriptor): Promise<string | undefined> => {
        const here = driverFor(drivers, d.runtime);
        if (!here || !("unavailable" in here)) return undefined;
        for (const m of (await members()).values()) if (runsOn(d.runtime, m.sandboxes)) return undefined;
        return `no node of the cluster can run ${skillRef(d)} (runtime ${d.runtime}); ${here.unavailable}`;
      };
      const shown = (s: RegisteredSkill) => ({ ...s.descriptor, source: s.source, digest: s.digest, updatedAt: s.updatedAt });
      return {
        list: () => registry.list().map(shown),
        get: (id) => {
          const versions = registry.list().filter((s) => s.descriptor.id === id);
          return versions.length ? { id, versions: versions.map(shown) } : undefined;
        },
        register: async (descriptor, files) => {
          const r = await registry.register(descriptor, files, "api");
          return { skill: shown(r.skill), created: r.created };
        },
        invoke: (i) =>
          invokeSkill(
            o.bus,
            (id, range) => catalog.resolve(id, range),
            i,
            (d) =>
              // the members unknown (NATS busy): the invocation is published, and whoever can run it will
              unrunnable(d).catch(() => undefined),
          ),
      };
    },
    async stop() {
      await workers.stop();
      workspaces.stop();
      registry.close();
    },
  };
}
