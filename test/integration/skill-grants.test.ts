/**
 * Red-team finding F3: `skills:admin` must not give away the node. What a
 * registered skill may be given of the node — environment variables, secrets,
 * host paths — is the node owner's grant (`skillGrants` in CLAW_CONFIG),
 * checked at registration (403 naming the grant) and again on the node that
 * runs it; NATS_* and CLAW_* are never given; and the ids of Claw's own skills
 * cannot be registered, nor shadowed by a higher version already in KV.
 */
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { encodeToken } from "../../src/bus/index.js";
import { runCli } from "../support/claw-cli.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { client, natsServer, type NatsServerProcess, type TestClient } from "../support/nats-server.js";

let nats: NatsServerProcess;
let c: TestClient;
let claw: ClawProcess;
let dir: string;
let granted: string;

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${claw.httpPort}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** Prints what it was given: its environment, and the file at `input.read` if any. */
const SHOW =
  `import { readFileSync } from "node:fs"; export default { run: (i) => ({ env: process.env, file: i.read ? readFileSync(i.read, "utf8") : ` + `null }) };`;

/** A `node` skill descriptor with `permissions`, and SHOW as its code. */
const skill = (id: string, permissions: Record<string, unknown>, version = "1.0.0") => ({
  id,
  version,
  description: `grants test ${id}`,
  runtime: "node",
  entrypoint: ["index.mjs"],
  permissions: { network: "none", ...permissions },
  limits: { timeoutMs: 10_000, memoryMb: 128, cpuSeconds: 10, processes: 32, outputBytes: 1024 * 1024 },
  files: { "index.mjs": Buffer.from(SHOW).toString("base64") },
});

const invoke = (id: string, input: unknown = {}) => api("POST", `/v1/skills/${id}/invoke`, { input, timeout_ms: 15_000 });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "claw-grants-"));
  await chmod(dir, 0o711); // the sandbox's user must reach the sandbox dir and the granted folder
  granted = join(dir, "shop-data");
  await mkdir(granted);
  await writeFile(join(granted, "prices.txt"), "apples 3\n");
  await writeFile(join(dir, "node-key.pem"), "the node's own key\n");
  const config = join(dir, "config.json");
  await writeFile(
    config,
    JSON.stringify({
      agents: [{ id: "echo" }],
      skillGrants: { "g.shop": { env: ["SHOP_API_URL"], secrets: ["SHOP_TOKEN"], readOnly: [granted] } },
    }),
  );
  nats = await natsServer();
  c = await client(nats.url);
  claw = await startClaw({
    env: {
      NATS_URL: nats.url,
      CLAW_CONFIG: config,
      SHOP_API_URL: "https://shop.example",
      CLAW_SECRET_SHOP_TOKEN: "shop-token",
      CLAW_SECRET_OTHER: "someone-elses-secret",
      CLAW_SANDBOX_DIR: join(dir, "sandbox"),
    },
  });
});

afterAll(async () => {
  await claw?.[Symbol.asyncDispose]();
  await c?.[Symbol.asyncDispose]();
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("skill grants are the node owner's", () => {
  it("refuses at registration, naming it, a variable, secret or path the node owner did not grant that skill", async () => {
    const cases: Array<[string, Record<string, unknown>, string, string]> = [
      ["g.nats", { env: ["NATS_URL"] }, "permissions.env", "NATS_URL"],
      ["g.shop", { env: ["NATS_URL"] }, "permissions.env", "NATS_URL"],
      ["g.shop", { env: ["CLAW_SECRET_OTHER"] }, "permissions.env", "CLAW_SECRET_OTHER"],
      ["g.other", { env: ["SHOP_API_URL"] }, "permissions.env", "SHOP_API_URL"],
      ["g.other", { secrets: ["OTHER"] }, "permissions.secrets", "OTHER"],
      ["g.shop", { secrets: ["OTHER"] }, "permissions.secrets", "OTHER"],
      ["g.proc", { filesystem: { workspace: "invocation", readOnly: ["/proc"] } }, "permissions.filesystem.readOnly", "/proc"],
      ["g.shop", { filesystem: { workspace: "invocation", readOnly: [join(dir, "node-key.pem")] } }, "permissions.filesystem.readOnly", "node-key.pem"],
      ["g.shop", { filesystem: { workspace: "invocation", readOnly: [`${granted}/../node-key.pem`] } }, "permissions.filesystem.readOnly", "node-key.pem"],
    ];
    for (const [id, permissions, field, named] of cases) {
      const r = await api("POST", "/v1/skills", skill(id, permissions));
      expect(r.status, `${id} ${JSON.stringify(permissions)}: ${JSON.stringify(r.body)}`).toBe(403);
      expect(r.body.error).toMatchObject({ code: "not_granted", field: expect.stringContaining(field), message: expect.stringContaining(named) });
    }
    for (const id of ["g.nats", "g.other", "g.proc"]) expect((await api("GET", `/v1/skills/${id}`)).status).toBe(404);
  });

  it("gives a granted skill its grants and nothing else of the node", async () => {
    const r = await api(
      "POST",
      "/v1/skills",
      skill("g.shop", { env: ["SHOP_API_URL"], secrets: ["SHOP_TOKEN"], filesystem: { workspace: "invocation", readOnly: [granted] } }),
    );
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const out = await invoke("g.shop", { read: join(granted, "prices.txt") });
    expect(out.status, JSON.stringify(out.body)).toBe(200);
    expect(out.body.output.file).toBe("apples 3\n");
    expect(out.body.output.env).toMatchObject({ SHOP_API_URL: "https://shop.example", SHOP_TOKEN: "shop-token" });
    const given = JSON.stringify(out.body.output.env);
    for (const leak of [nats.url, "someone-elses-secret", "CLAW_"]) expect(given).not.toContain(leak);
    // a link planted in the granted folder does not lead out of it where the skill runs
    await symlink(join(dir, "node-key.pem"), join(granted, "key-link"));
    const linked = await api(
      "POST",
      "/v1/skills",
      skill("g.shop", { filesystem: { workspace: "invocation", readOnly: [join(granted, "key-link")] } }, "1.0.1"),
    );
    expect(linked.status, JSON.stringify(linked.body)).toBe(201);
    const followed = await api("POST", "/v1/skills/g.shop/invoke", { input: { read: join(granted, "key-link") }, version: "1.0.1", timeout_ms: 15_000 });
    expect(followed.body.error).toMatchObject({ code: "denied", message: expect.stringContaining("node-key.pem") });
    expect(JSON.stringify(followed.body)).not.toContain("the node's own key");
  });

  it("reserves the ids of Claw's own skills, any version, and never resolves a shadow already in KV", async () => {
    for (const id of ["bash", "http.fetch", "fs.read", "echo"]) {
      const r = await api("POST", "/v1/skills", skill(id, {}, "9.0.0"));
      expect(r.status, `${id}: ${JSON.stringify(r.body)}`).toBe(403);
      expect(r.body.error).toMatchObject({ code: "reserved_skill", field: "id", message: expect.stringContaining(id) });
    }
    // one written before this check existed (or by hand): a higher version of bash, registered "api"
    const kv = await new Kvm(c.js).open("claw_registry");
    const shadow = skill("bash", {}, "9.9.9");
    const { files: _files, ...descriptor } = shadow;
    await kv.put(
      `skills.${encodeToken("bash")}.${encodeToken("9.9.9")}`,
      JSON.stringify({ descriptor, digest: "0", files: ["index.mjs"], source: "api", updatedAt: Date.now() }),
    );
    await new Promise((r) => setTimeout(r, 500)); // the node's registry follows KV
    const r = await invoke("bash", { command: "echo still the real bash" });
    expect(r.body).toMatchObject({ skill: "bash@1.0.0", output: { exitCode: 0, stdout: "still the real bash\n" } });
  });

  it("refuses at run time what the running node does not grant (registered elsewhere: another node, the CLI)", async () => {
    const pkg = join(dir, "pkg");
    for (const [id, permissions] of [
      ["r.nats", { env: ["NATS_URL"] }],
      ["r.other", { env: ["SHOP_API_URL"], secrets: ["OTHER"] }],
      ["r.key", { filesystem: { workspace: "invocation", readOnly: [join(dir, "node-key.pem")] } }],
    ] as const) {
      await mkdir(join(pkg, id), { recursive: true });
      const { files: _files, ...descriptor } = skill(id, permissions);
      await writeFile(join(pkg, id, "skill.json"), JSON.stringify(descriptor));
      await writeFile(join(pkg, id, "index.mjs"), SHOW);
      const installed = await runCli(["skills", "install", join(pkg, id)], { NATS_URL: nats.url });
      expect(installed.code, installed.stderr).toBe(0);
    }
    const nat = await invoke("r.nats");
    expect(nat.status, JSON.stringify(nat.body)).toBe(422);
    expect(nat.body.error).toMatchObject({ code: "denied", message: expect.stringContaining("NATS_URL") });
    expect(JSON.stringify(nat.body)).not.toContain(nats.url);
    const other = await invoke("r.other");
    expect(other.body.error).toMatchObject({ code: "denied", message: expect.stringContaining("SHOP_API_URL") });
    const key = await invoke("r.key", { read: join(dir, "node-key.pem") });
    expect(key.body.error).toMatchObject({ code: "denied", message: expect.stringContaining("node-key.pem") });
    expect(JSON.stringify(key.body)).not.toContain("the node's own key");
  }, 60_000);
});
