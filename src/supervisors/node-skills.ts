/**
 * A node's skills: the registry (KV `claw_registry` + object store), Claw's
 * own skills registered into it (the in-process built-ins and the `skills/`
 * folder), the sandbox drivers this node has — checked once, and said at
 * start — and the workers that run the invocations of every skill whose
 * runtime can run here.
 */
import { chmod, copyFile, mkdir, readdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { Objm } from "@nats-io/obj";
import type { AnyActorRef } from "xstate";
import { BUCKETS, OBJECT_STORES, type BackoffPolicy, type Bus } from "../bus/index.js";
import type { ClawConfig } from "../config.js";
import type { Logger } from "../log.js";
import {
  builtinSkills,
  createBubblewrapDriver,
  createProcessDriver,
  NODE_RUNNER_JS,
  openSkillRegistry,
  readSkillFolder,
  startSkillWorkers,
  type SandboxDriver,
  type SkillCatalog,
  type SkillRegistry,
  type SkillWorkerEvent,
  type SkillWorkers,
} from "../skills/index.js";

/** What {@link startNodeSkills} gives the node. */
export interface NodeSkills {
  registry: SkillRegistry;
  /** the registry as agents' tools see it */
  catalog: SkillCatalog;
  workers: SkillWorkers;
  /** the sandbox drivers this node has (its heartbeat says them) */
  sandboxes: string[];
  stop(): Promise<void>;
}

/** Options of {@link startNodeSkills}. */
export interface NodeSkillsOptions {
  bus: Bus;
  config: ClawConfig;
  log: Logger;
  backoff: BackoffPolicy;
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
  // outside the data dir: a sandbox (uid 65534) must be able to reach these, and a data dir may be private
  const base = resolve(config.sandboxDir);
  const [runnerDir, cacheDir, workDir] = ["runner", "skill-cache", "workspaces"].map((d) => join(base, d)) as [string, string, string];
  for (const d of [base, runnerDir, cacheDir, workDir]) {
    await mkdir(d, { recursive: true });
    await chmod(d, 0o755);
  }
  // the harness of node skills as an ES module wherever it is mounted (no package.json says "module" there)
  await copyFile(NODE_RUNNER_JS, join(runnerDir, "node-runner.mjs"));
  const kv = await o.bus.kvm.open(BUCKETS.registry);
  const objects = await new Objm(o.bus.js).open(OBJECT_STORES.skillFiles);
  const registry = await openSkillRegistry(kv, objects, cacheDir, { onError: (e) => log.warn({ err: e }, "skill registry entry ignored") });

  const builtins = builtinSkills(config.httpFetchAllow);
  for (const b of builtins) await registry.register(b.descriptor, {}, "builtin");
  for (const dir of await shippedSkills(config.skillsDir)) {
    const { descriptor, files } = await readSkillFolder(dir);
    await registry.register(descriptor, files, "builtin");
  }

  // the driver of `node` and `process` skills: bubblewrap, or — only when explicitly allowed — none
  let code: SandboxDriver | { unavailable: string };
  if (config.sandbox === "process") {
    log.warn("CLAW_SANDBOX=process: skills run WITHOUT a sandbox, as the node's own user, with its files and network");
    code = createProcessDriver((m) => log.warn(m));
  } else {
    const bwrap = createBubblewrapDriver();
    const check = await bwrap.check();
    if (check.ok) {
      code = bwrap;
      log.info({ sandbox: "bubblewrap", detail: check.detail }, "skills run in bubblewrap sandboxes");
    } else {
      code = { unavailable: `no sandbox for node and process skills on this node: ${check.reason}` };
      log.warn({ reason: check.reason }, "bubblewrap is not available: node and process skills will not run on this node (built-in skills still do)");
    }
  }
  const container = { unavailable: "no container engine is configured on this node" };
  const sandboxes = ["builtin", ...("unavailable" in code ? [] : [code.name])];

  const workers = await startSkillWorkers({
    bus: o.bus,
    nodeId: config.nodeId,
    registry,
    builtins: new Map(builtins.map((b) => [b.descriptor.id, b])),
    drivers: { code, container },
    workDir,
    runnerDir,
    env: process.env,
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
    async stop() {
      await workers.stop();
      registry.close();
    },
  };
}
