/**
 * Skill grants (red-team finding F3): what a registered skill asks of the
 * node against what the node's owner granted it in CLAW_CONFIG.
 */
import { mkdtemp, rm, symlink, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { grantedPaths, parseSkillDescriptor, SkillNotGrantedError, ungranted, type SkillGrants } from "../../src/skills/index.js";

const asking = (id: string, permissions: Record<string, unknown>) =>
  parseSkillDescriptor({ id, version: "1.0.0", description: "d", runtime: "node", entrypoint: ["i.mjs"], permissions });
const grants: SkillGrants = { shop: { env: ["SHOP_URL"], secrets: ["TOKEN"], readOnly: ["/srv/shop", "/etc/shop.conf"] } };

describe("ungranted", () => {
  it("lets a skill have exactly what its id was granted, and paths below a granted folder", () => {
    expect(
      ungranted(
        asking("shop", { env: ["SHOP_URL"], secrets: ["TOKEN"], filesystem: { readOnly: ["/srv/shop", "/srv/shop/prices/", "/etc/shop.conf"] } }),
        grants,
      ),
    ).toBeUndefined();
    expect(ungranted(asking("anything", {}), {})).toBeUndefined();
  });

  it("names the first permission not granted, for another id too", () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["other", { env: ["SHOP_URL"] }, "permissions.env.0"],
      ["shop", { env: ["SHOP_URL", "HOME"] }, "permissions.env.1"],
      ["shop", { secrets: ["OTHER"] }, "permissions.secrets.0"],
      ["other", { secrets: ["TOKEN"] }, "permissions.secrets.0"],
      ["shop", { filesystem: { readOnly: ["/srv/shopping"] } }, "permissions.filesystem.readOnly.0"],
      ["shop", { filesystem: { readOnly: ["/srv/shop/../secret"] } }, "permissions.filesystem.readOnly.0"],
      ["shop", { filesystem: { readOnly: ["/etc/shop.conf/../shadow"] } }, "permissions.filesystem.readOnly.0"],
      ["shop", { filesystem: { readOnly: ["/proc"] } }, "permissions.filesystem.readOnly.0"],
    ];
    for (const [id, permissions, field] of cases) {
      const e = ungranted(asking(id, permissions), grants);
      expect(e, JSON.stringify(permissions)).toBeInstanceOf(SkillNotGrantedError);
      expect(e).toMatchObject({ code: "not_granted", field });
    }
  });

  it("never gives NATS_* or CLAW_*, whatever the grant says", () => {
    const forced = { shop: { env: ["NATS_URL", "CLAW_SECRET_X", "NATS_PASSWORD"], secrets: [], readOnly: [] } } as SkillGrants;
    for (const name of ["NATS_URL", "NATS_PASSWORD", "CLAW_SECRET_X"]) {
      expect(ungranted(asking("shop", { env: [name] }), forced)?.message).toContain("never given to a skill");
    }
  });
});

describe("grantedPaths", () => {
  it("follows links where they are and refuses one that leads out of the granted folder", async () => {
    const dir = await mkdtemp(join(tmpdir(), "claw-grant-paths-"));
    try {
      await mkdir(join(dir, "granted"));
      await writeFile(join(dir, "granted", "ok.txt"), "ok");
      await writeFile(join(dir, "key.pem"), "secret");
      await symlink(join(dir, "key.pem"), join(dir, "granted", "link"));
      const g: SkillGrants = { s: { env: [], secrets: [], readOnly: [join(dir, "granted")] } };
      expect(await grantedPaths(asking("s", { filesystem: { readOnly: [join(dir, "granted", "ok.txt")] } }), g)).toEqual([
        { path: join(dir, "granted", "ok.txt"), real: join(dir, "granted", "ok.txt") },
      ]);
      await expect(grantedPaths(asking("s", { filesystem: { readOnly: [join(dir, "granted", "link")] } }), g)).rejects.toMatchObject({
        code: "not_granted",
        message: expect.stringContaining("key.pem"),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("CLAW_CONFIG skillGrants", () => {
  const withConfig = async (file: unknown) => {
    const dir = await mkdtemp(join(tmpdir(), "claw-grant-config-"));
    await writeFile(join(dir, "c.json"), JSON.stringify(file));
    try {
      return loadConfig({ CLAW_CONFIG: join(dir, "c.json") });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  it("is read per skill id, and absent means nothing is granted", async () => {
    expect(loadConfig({}).skillGrants).toEqual({});
    expect((await withConfig({ agents: [{ id: "a" }], skillGrants: { "my.skill": { env: ["SHOP_URL"] } } })).skillGrants).toEqual({
      "my.skill": { env: ["SHOP_URL"], secrets: [], readOnly: [] },
    });
  });

  it("refuses a grant of the node's own variables, naming it", async () => {
    await expect(withConfig({ agents: [{ id: "a" }], skillGrants: { s: { env: ["NATS_URL"] } } })).rejects.toThrow(ConfigError);
    await expect(withConfig({ agents: [{ id: "a" }], skillGrants: { s: { env: ["CLAW_SECRET_X"] } } })).rejects.toThrow(
      /skillGrants\.s\.env\.0: NATS_\* and CLAW_\*/,
    );
    await expect(withConfig({ agents: [{ id: "a" }], skillGrants: { s: { readOnly: ["relative"] } } })).rejects.toThrow(/skillGrants\.s\.readOnly\.0/);
  });
});
