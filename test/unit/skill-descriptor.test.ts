import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createSkillCatalog, parseSkillDescriptor, SkillDescriptorError } from "../../src/skills/index.js";
import { schemaValidator } from "../../src/skills/descriptor.js";

const template = JSON.parse(readFileSync(new URL("../../skills/_template/skill.json", import.meta.url), "utf8")) as Record<string, unknown>;

function refusal(d: unknown): { field?: string; message: string } {
  try {
    parseSkillDescriptor(d);
  } catch (e) {
    expect(e).toBeInstanceOf(SkillDescriptorError);
    return { field: (e as SkillDescriptorError).field, message: (e as Error).message };
  }
  throw new Error("accepted");
}

describe("skill descriptors", () => {
  it("accepts the template and fills in safe defaults", () => {
    const d = parseSkillDescriptor({ id: "x", version: "1.0.0", description: "d", runtime: "node", entrypoint: ["i.mjs"] });
    expect(d.permissions).toEqual({ network: "none", filesystem: { workspace: "invocation", readOnly: [] }, env: [], secrets: [] });
    expect(d.limits).toMatchObject({ timeoutMs: 30_000, memoryMb: 256, processes: 64 });
    expect(d.idempotent).toBe(false);
    expect(parseSkillDescriptor(template).id).toBe("my.skill");
  });

  it("refuses an invalid descriptor with a message that names the field", () => {
    expect(refusal({ ...template, version: "1" })).toMatchObject({ field: "version" });
    expect(refusal({ ...template, id: "My Skill" })).toMatchObject({ field: "id" });
    expect(refusal({ ...template, entrypoint: undefined })).toMatchObject({ field: "entrypoint", message: "entrypoint: required for runtime node" });
    expect(refusal({ ...template, entrypoint: ["../../etc/passwd"] })).toMatchObject({ field: "entrypoint.0" });
    expect(refusal({ ...template, runtime: "container" })).toMatchObject({ field: "image" });
    expect(refusal({ ...template, input: { type: 12 } })).toMatchObject({ field: "input", message: expect.stringContaining("not a valid JSON Schema") });
    expect(refusal({ ...template, limits: { timeoutMs: 5 } })).toMatchObject({ field: "limits.timeoutMs" });
    expect(refusal({ ...template, permissions: { network: { allow: ["http://x"] } } })).toMatchObject({ field: "permissions.network.allow.0" });
    expect(refusal({ ...template, surprise: 1 }).message).toContain("surprise");
  });

  it("checks schemas against the meta-schema only when told not to compile them, and compiles them on first use", () => {
    const lazily = (d: unknown) => () => parseSkillDescriptor(d, { compile: false });
    expect(lazily({ ...template, input: { type: 12 } })).toThrow(/input: not a valid JSON Schema/);
    // a pattern that is no regular expression passes the meta-schema: only a compile refuses it
    const badPattern = { ...template, input: { type: "string", pattern: "(" } };
    expect(refusal(badPattern)).toMatchObject({ field: "input", message: expect.stringContaining("not a valid JSON Schema") });
    const d = lazily(badPattern)();
    expect(() => schemaValidator(d.input)).toThrow();
  });

  it("resolves a range to the highest version that satisfies it", () => {
    const c = createSkillCatalog(["1.0.0", "1.4.2", "2.0.0-rc.1", "2.1.0"].map((version) => ({ ...template, version })));
    expect(c.resolve("my.skill")?.version).toBe("2.1.0");
    expect(c.resolve("my.skill", "^1")?.version).toBe("1.4.2");
    expect(c.resolve("my.skill", "~1.0")?.version).toBe("1.0.0");
    expect(c.resolve("my.skill", ">=3")).toBeUndefined();
    expect(c.resolve("other")).toBeUndefined();
  });

  it("keeps the fs skills' copies of paths.mjs identical (each skill's sandbox holds only its own folder)", () => {
    const [first, ...rest] = ["fs.read", "fs.write", "fs.list"].map((id) => readFileSync(new URL(`../../skills/${id}/paths.mjs`, import.meta.url), "utf8"));
    for (const copy of rest) expect(copy).toBe(first);
  });
});
