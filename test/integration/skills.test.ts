/**
 * Skills in the bubblewrap sandbox, on a real node: registered through
 * `POST /v1/skills`, invoked through `POST /v1/skills/{id}/invoke`, hostile
 * ones stopped and reported while the node keeps serving, versions resolved
 * by range, and an agent's tool call running `bash` in the sandbox.
 */
import { createServer } from "node:net";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBubblewrapDriver } from "../../src/skills/index.js";
import { skipWithout } from "../support/ci.js";
import { runCli } from "../support/claw-cli.js";
import { startClaw, type ClawProcess } from "../support/claw-node.js";
import { lastUser, startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.js";
import { client, natsServer, type NatsServerProcess, type TestClient } from "../support/nats-server.js";
import { collectStreamReplies, jsonBody } from "../support/replies.js";

let nats: NatsServerProcess;
let c: TestClient;
let claw: ClawProcess;
let fake: FakeOpenAI;

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${claw.httpPort}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** Registers a `node` skill whose index.mjs is `code`. */
async function register(id: string, code: string, extra: Record<string, unknown> = {}, version = "1.0.0") {
  const r = await api("POST", "/v1/skills", {
    id,
    version,
    description: `test skill ${id}`,
    runtime: "node",
    entrypoint: ["index.mjs"],
    limits: { timeoutMs: 5_000, memoryMb: 128, cpuSeconds: 10, processes: 32, outputBytes: 1024 * 1024 },
    ...extra,
    files: { "index.mjs": Buffer.from(code).toString("base64") },
  });
  expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
}

const invoke = (id: string, input: unknown = {}, more: Record<string, unknown> = {}) =>
  api("POST", `/v1/skills/${id}/invoke`, { input, timeout_ms: 15_000, ...more });

beforeAll(async () => {
  const check = await createBubblewrapDriver().check();
  if (!check.ok) throw new Error(`these tests run skills in bubblewrap, which cannot run here: ${check.reason}`);
  nats = await natsServer();
  c = await client(nats.url);
  fake = await startFakeOpenAI();
  fake.answer = (req) => {
    const tool = req.messages.find((m) => m.role === "tool");
    if (tool) return { text: `the sandbox said: ${tool.content}` };
    if (lastUser(req) === "read it back") return { toolCalls: [{ name: "fs__read", arguments: JSON.stringify({ path: "answer.txt" }) }] };
    return { toolCalls: [{ name: "bash", arguments: JSON.stringify({ command: "echo $((6*7)) > answer.txt && cat answer.txt && id -u" }) }] };
  };
  const config = join(tmpdir(), `claw-skills-${process.pid}.json`);
  await writeFile(
    config,
    JSON.stringify({
      providers: { fake: { baseURL: fake.baseURL, model: "m" } },
      agents: [{ id: "shell", model: "fake", skills: ["bash", "fs.read"], bindings: [{ channel: "sh" }] }, { id: "echo" }],
      // the node owner's grant: a read-only path that does not exist on this node
      skillGrants: { "h.missing-path": { readOnly: ["/nonexistent/claw"] } },
    }),
  );
  claw = await startClaw({
    env: {
      NATS_URL: nats.url,
      CLAW_CONFIG: config,
      CLAW_TEST_SECRET: "s3cr3t-of-the-node",
      CLAW_SANDBOX_DIR: join(tmpdir(), `claw-sandbox-test-${process.pid}`),
    },
  });
});

afterAll(async () => {
  await claw?.[Symbol.asyncDispose]();
  await fake?.close();
  await c?.[Symbol.asyncDispose]();
  await nats?.stop();
});

describe("skills in the sandbox", () => {
  it("lists the shipped skills and runs bash as uid 65534 in the session's workspace", async () => {
    const ids = (await api("GET", "/v1/skills")).body.skills.map((s: { id: string }) => s.id);
    expect(ids).toEqual(expect.arrayContaining(["bash", "fs.read", "fs.write", "fs.list", "http.fetch", "time.now", "echo"]));
    const r = await invoke("bash", { command: "echo hello; id -u; pwd" });
    expect(r).toMatchObject({ status: 200, body: { skill: "bash@1.0.0", output: { exitCode: 0, stdout: "hello\n65534\n/work\n" } } });
  });

  it("stops and reports a hostile skill, each way, while the node keeps serving", async () => {
    const listener = createServer((s) => s.destroy());
    let connections = 0;
    listener.on("connection", () => connections++);
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    const port = (listener.address() as { port: number }).port;
    const cases: Array<[string, string, Record<string, unknown>, (r: { status: number; body: any }) => void]> = [
      [
        "h.shadow",
        `import { readFileSync } from "node:fs"; export default { run: () => readFileSync("/etc/shadow", "utf8") };`,
        {},
        (r) => expect(r.body.error).toMatchObject({ code: "exit", message: expect.stringContaining("ENOENT") }),
      ],
      [
        "h.node-files",
        `import { readFileSync, existsSync } from "node:fs"; export default { run: () => ({ init: readFileSync("/proc/1/environ", "utf8"), mine: ` +
          `JSON.stringify(process.env), repo: existsSync(${JSON.stringify(process.cwd())}), data: existsSync("/etc/passwd") }) };`,
        {},
        (r) => {
          expect(r.status).toBe(200);
          expect(JSON.stringify(r.body.output)).not.toContain("s3cr3t-of-the-node");
          expect(r.body.output).toMatchObject({ repo: false, data: false });
        },
      ],
      [
        "h.write-out",
        `import { writeFileSync } from "node:fs"; export default { run: () => writeFileSync("/usr/pwned", "x") };`,
        {},
        (r) => expect(r.body.error.message).toMatch(/EROFS|read-only/i),
      ],
      [
        "h.net",
        `import { connect } from "node:net"; export default { run: () => new Promise((ok, fail) => { const s = connect(${port}, "127.0.0.1"); ` +
          `s.on("connect", () => ok("connected")); s.on("error", fail); }) };`,
        {},
        (r) => expect(r.body.error).toMatchObject({ code: "exit", message: expect.stringContaining("ECONNREFUSED") }),
      ],
      [
        "h.fork",
        `import { spawn } from "node:child_process"; export default { run: async () => { let n = 0; try { for (; n < 10000; n++) { const c = ` +
          `spawn("/bin/sleep", ["30"]); await new Promise((ok, fail) => { c.on("spawn", ok); c.on("error", fail); }); } } catch (e) { return { spawned: n, stopped: e.code }; } return { spawned: n }; } };`,
        {},
        (r) => {
          expect(r.status).toBe(200);
          // 32 tasks in all, a dozen of them the skill's own Node threads
          expect(r.body.output.spawned).toBeLessThan(32);
          expect(r.body.output.spawned).toBeGreaterThan(0);
          expect(r.body.output.stopped).toBe("EAGAIN");
        },
      ],
      [
        "h.memory",
        `export default { run: () => { const a = []; for (;;) a.push(Buffer.alloc(1 << 20).fill(1)); } };`,
        {},
        (r) => expect(r.body.error.code).toBe("memory"),
      ],
      [
        "h.slow",
        `export default { run: () => { for (;;); } };`,
        { limits: { timeoutMs: 1_500, memoryMb: 128, cpuSeconds: 10, processes: 32, outputBytes: 65536 } },
        (r) => expect(r.body.error.code).toBe("timeout"),
      ],
      [
        "h.loud",
        `export default { run: () => { const b = "x".repeat(1 << 20); for (let i = 0; i < 100; i++) process.stdout.write(b); return 1; } };`,
        {},
        (r) => expect(r.body.error).toMatchObject({ code: "output_invalid", message: expect.stringContaining("printed more than") }),
      ],
      [
        "h.missing-path",
        `export default { run: () => 1 };`,
        { permissions: { network: "none", filesystem: { workspace: "invocation", readOnly: ["/nonexistent/claw"] } } },
        (r) => expect(r.body.error).toMatchObject({ code: "denied", message: expect.stringContaining("/nonexistent/claw") }),
      ],
      [
        "h.bad-output",
        `export default { run: () => ({ wrong: true }) };`,
        { output: { type: "object", required: ["right"] } },
        (r) => expect(r.body.error).toMatchObject({ code: "output_invalid", message: expect.stringContaining("right") }),
      ],
    ];
    for (const [id, code, extra, expectation] of cases) {
      await register(id, code, extra);
      const r = await invoke(id);
      expect([200, 422], `${id}: ${JSON.stringify(r.body)}`).toContain(r.status);
      expectation(r);
    }
    expect(connections, "nothing reached the host's listener").toBe(0);
    listener.close();
    // still serving
    expect((await api("POST", "/v1/agents/echo/invoke", { text: "still here" })).body.reply.text).toBe("still here");
    expect((await fetch(`http://127.0.0.1:${claw.httpPort}/readyz`)).status).toBe(200);
    // and counted by outcome
    const metrics = await (await fetch(`http://127.0.0.1:${claw.httpPort}/metrics`)).text();
    expect(metrics).toContain('claw_skill_invocations_total{skill="h.memory",outcome="memory"} 1');
    expect(metrics).toContain('claw_skill_invocations_total{skill="h.slow",outcome="timeout"} 1');
    expect(metrics).toContain('claw_skill_invocations_total{skill="h.fork",outcome="ok"} 1');
    expect(metrics).toMatch(/claw_skill_duration_seconds_count\{skill="h.slow"\} 1/);
  }, 120_000);

  it("refuses input that breaks the schema, and descriptors that break theirs, naming the field", async () => {
    const bad = await invoke("bash", { cmd: "ls" });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: "invalid_input", field: "input.command" } } });
    const r = await api("POST", "/v1/skills", { id: "x", version: "1.0", description: "d", runtime: "node", entrypoint: ["i.mjs"] });
    expect(r).toMatchObject({ status: 400, body: { error: { code: "invalid_skill", field: "version" } } });
    const noFile = await api("POST", "/v1/skills", { id: "x", version: "1.0.0", description: "d", runtime: "node", entrypoint: ["missing.mjs"] });
    expect(noFile).toMatchObject({ status: 400, body: { error: { field: "entrypoint" } } });
    expect((await invoke("nope")).status).toBe(404);
  });

  it("keeps versions side by side and resolves a range to the highest that satisfies it", async () => {
    for (const v of ["1.0.0", "1.2.0", "2.0.0"]) await register("versioned", `export default { run: () => ${JSON.stringify(v)} };`, {}, v);
    expect((await invoke("versioned")).body).toMatchObject({ skill: "versioned@2.0.0", output: "2.0.0" });
    expect((await invoke("versioned", {}, { version: "^1" })).body).toMatchObject({ skill: "versioned@1.2.0", output: "1.2.0" });
    expect((await invoke("versioned", {}, { version: "~1.0" })).body.output).toBe("1.0.0");
    expect((await invoke("versioned", {}, { version: "^3" })).status).toBe(404);
    expect((await api("GET", "/v1/skills/versioned")).body.versions.map((s: { version: string }) => s.version)).toEqual(["1.0.0", "1.2.0", "2.0.0"]);
  });

  it("refuses fs paths that leave the workspace", async () => {
    const w = await invoke("fs.write", { path: "../escape.txt", content: "x" });
    expect(w).toMatchObject({ status: 422, body: { error: { code: "exit", message: expect.stringContaining("refused") } } });
    const abs = await invoke("fs.read", { path: "/etc/hostname" });
    expect(abs.body.error.message).toContain("refused");
  });

  it("takes a new skill from the template to a working invocation with the CLI", async () => {
    // docs/skills.md "Write your own skill": copy the template, name it, install it, invoke it
    const dir = join(await mkdtemp(join(tmpdir(), "claw-skill-")), "greet");
    await cp(new URL("../../skills/_template", import.meta.url), dir, { recursive: true });
    const descriptor = JSON.parse(await readFile(join(dir, "skill.json"), "utf8")) as Record<string, unknown>;
    await writeFile(join(dir, "skill.json"), JSON.stringify({ ...descriptor, id: "greet", version: "1.0.0" }));
    const env = { NATS_URL: nats.url };
    const installed = await runCli(["skills", "install", dir], env);
    expect(installed.stderr).toBe("");
    expect(installed.stdout).toBe("installed greet@1.0.0 (1 file, node)\n");
    const ls = await runCli(["skills", "ls"], env);
    expect(ls.stdout).toMatch(/^greet\s+1\.0\.0\s+node\s+api\s+Says what the skill does/m);
    const invoked = await runCli(["skills", "invoke", "greet", '{"name":"Ada"}'], env);
    expect(invoked).toMatchObject({ code: 0, stdout: JSON.stringify({ greeting: "Hello, Ada! (from /work)" }, null, 2) + "\n" });
    const bad = await runCli(["skills", "invoke", "greet", '{"nom":"Ada"}'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("must have required property 'name'");
    const broken = await runCli(["skills", "install", join(dir, "..")], env);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain("skill.json");
  }, 90_000); // five CLI processes, each a Node start: seconds apiece on a loaded machine

  it("runs an agent's tool calls (bash, fs.read) in the sandbox, in a workspace that lasts as long as the session", async () => {
    const out = await collectStreamReplies(c.js, c.jsm);
    await c.js.publish("claw.in.sh.a.c1", jsonBody({ id: "sh-1", text: "compute 6*7 in a shell", sender: { id: "u" } }));
    const reply = await out.waitFor("sh-1", 30_000);
    expect(reply.text).toMatch(/^the sandbox said: /);
    const result = JSON.parse(reply.text!.replace("the sandbox said: ", "")) as { exitCode: number; stdout: string };
    expect(result).toMatchObject({ exitCode: 0, stdout: "42\n65534\n" });
    // the session's workspace outlives the call: the next turn's fs.read finds the file bash wrote
    await c.js.publish("claw.in.sh.a.c1", jsonBody({ id: "sh-2", text: "read it back", sender: { id: "u" } }));
    const again = JSON.parse((await out.waitFor("sh-2", 30_000)).text!.replace("the sandbox said: ", "")) as { content: string };
    expect(again.content).toBe("42\n");
    // another session does not see it
    await c.js.publish("claw.in.sh.a.c2", jsonBody({ id: "sh-3", text: "read it back", sender: { id: "u" } }));
    expect((await out.waitFor("sh-3", 30_000)).text).toContain("no such file: answer.txt");
    out.stop();
  }, 60_000);

  // only a root node drops its skills to uid 65534 (otherwise they run as the node's own user, who reaches the dir)
  const notRoot = process.getuid?.() === 0 ? undefined : "the tests do not run as root (only a root node drops its skills to uid 65534)";
  it.skipIf(skipWithout("skills: a private CLAW_SANDBOX_DIR", notRoot))(
    "says at start, and at once when invoked, that its sandbox cannot reach a private CLAW_SANDBOX_DIR",
    async () => {
      const closed = await mkdtemp(join(tmpdir(), "claw-private-")); // mode 0700
      await using own = await natsServer();
      await using node = await startClaw({ env: { NATS_URL: own.url, CLAW_SANDBOX_DIR: join(closed, "sandbox") } });
      await node.waitForLogs((l) => typeof l.reason === "string" && l.reason.includes(`${closed} is mode 700`));
      const res = await fetch(`http://127.0.0.1:${node.httpPort}/v1/skills/bash/invoke`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ input: { command: "true" } }),
      });
      expect(res.status).toBe(422);
      expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({
        code: "unavailable",
        message: expect.stringContaining(`chmod o+x ${closed}`),
      });
      await rm(closed, { recursive: true, force: true });
    },
    30_000,
  );
});
