/**
 * `claw skills`: the cluster's skills. `ls` lists every version, `install
 * <dir>` registers a skill folder (its `skill.json` and files) the way
 * `POST /v1/skills` does, `invoke <id> <json>` runs one on whichever node can
 * and prints its output.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Objm } from "@nats-io/obj";
import { BUCKETS, OBJECT_STORES, type Bus } from "../bus/index.js";
import { invokeSkill, openSkillRegistry, readSkillFolder, skillRef, type SkillRegistry } from "../skills/index.js";
import { cliBus } from "./cli-connection.js";
import { formatTable } from "./text-table.js";

/** Options of {@link skillsCommand}. */
export type SkillsOptions =
  | { action: "ls"; json: boolean }
  | { action: "install"; dir: string }
  | { action: "invoke"; skill: string; input: string; version?: string; timeoutMs: number; json: boolean };

async function withRegistry<T>(run: (bus: Bus, registry: SkillRegistry) => Promise<T>): Promise<T> {
  const bus = await cliBus();
  try {
    const kv = await bus.kvm.open(BUCKETS.registry);
    const objects = await new Objm(bus.js).open(OBJECT_STORES.skillFiles).catch((e: unknown) => {
      throw new Error(`no skills here: ${(e as Error).message}. Start a node against this NATS first (claw start).`, { cause: e });
    });
    const cache = await mkdtemp(join(tmpdir(), "claw-cli-skills-"));
    const registry = await openSkillRegistry(kv, objects, cache);
    try {
      return await run(bus, registry);
    } finally {
      registry.close();
      await rm(cache, { recursive: true, force: true });
    }
  } finally {
    await bus.close();
  }
}

/** Runs the command; returns the exit code. */
export async function skillsCommand(o: SkillsOptions): Promise<number> {
  if (o.action === "invoke") {
    let input: unknown;
    try {
      input = JSON.parse(o.input);
    } catch (e) {
      process.stderr.write(`claw: the input is not JSON: ${(e as Error).message}\n`);
      return 2;
    }
    return withRegistry(async (bus, registry) => {
      const r = await invokeSkill(bus, (id, range) => registry.resolve(id, range)?.descriptor, {
        skill: o.skill,
        version: o.version,
        input,
        timeoutMs: o.timeoutMs,
      });
      if (o.json) process.stdout.write(JSON.stringify(r) + "\n");
      switch (r.kind) {
        case "ok":
          if (!o.json) process.stdout.write(JSON.stringify(r.output, null, 2) + "\n");
          return 0;
        case "failed":
          if (!o.json) process.stderr.write(`claw: ${r.skill} failed (${r.error.code}): ${r.error.message}\n`);
          return 1;
        case "invalid_input":
          if (!o.json) process.stderr.write(`claw: ${r.message}\n`);
          return 2;
        default:
          if (!o.json) process.stderr.write(`claw: ${r.message}\n`);
          return 1;
      }
    });
  }
  if (o.action === "install") {
    const dir = resolve(o.dir);
    const { descriptor, files } = await readSkillFolder(dir);
    return withRegistry(async (_bus, registry) => {
      const r = await registry.register(descriptor, files, "api");
      process.stdout.write(
        `${r.created ? "installed" : "unchanged:"} ${skillRef(r.skill.descriptor)} (${r.skill.files.length} ` +
          `file${r.skill.files.length === 1 ? "" : "s"}, ${r.skill.descriptor.runtime})\n`,
      );
      return 0;
    });
  }
  return withRegistry(async (_bus, registry) => {
    const skills = registry.list();
    if (o.json) {
      process.stdout.write(JSON.stringify(skills.map((s) => ({ ...s.descriptor, source: s.source, digest: s.digest }))) + "\n");
      return 0;
    }
    if (skills.length === 0) {
      process.stdout.write("no skills registered\n");
      return 0;
    }
    const lines = formatTable(
      [
        { header: "SKILL", cell: (s: (typeof skills)[number]) => s.descriptor.id },
        { header: "VERSION", cell: (s) => s.descriptor.version },
        { header: "RUNTIME", cell: (s) => s.descriptor.runtime },
        { header: "SOURCE", cell: (s) => s.source },
        {
          header: "DESCRIPTION",
          cell: (s) => (s.descriptor.description.length > 60 ? `${s.descriptor.description.slice(0, 57)}...` : s.descriptor.description),
        },
      ],
      skills,
    );
    process.stdout.write(lines.join("\n") + "\n");
    return 0;
  });
}
