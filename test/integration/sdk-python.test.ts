/**
 * The Python SDK (sdk/python, `claw_sdk`): its own tests, run with Debian's
 * stock `/usr/bin/python3` and pytest and nothing installed (the SDK from the
 * checkout through PYTHONPATH) against real nodes they start themselves; and
 * parity: every operation of a real node's `/openapi.json` has a method named
 * in `SDK_METHODS`, every such method exists on `Claw` and, as a coroutine or
 * async iterator, on `AsyncClaw`, and the SDK's README lists exactly them.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { skipWithout } from "../support/ci.js";
import { useClawNode } from "../support/claw-fixture.js";
import { SDK_METHODS, sdkOperations, sdkRoutes } from "../support/sdk-parity.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PYTHON = "/usr/bin/python3";
const ENV = {
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? "/tmp",
  PYTHONPATH: "sdk/python",
  PYTHONDONTWRITEBYTECODE: "1",
  // the node binary running these tests runs the nodes pytest starts
  CLAW_TEST_NODE: process.execPath,
};

function missingPython(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing (Debian: apt-get install python3 python3-pytest)`;
  const r = spawnSync(PYTHON, ["-c", "import pytest"], { encoding: "utf8" });
  return r.status === 0 ? undefined : `pytest is not importable by ${PYTHON} (Debian: apt-get install python3-pytest): ${r.stderr.trim()}`;
}

type OpenApi = { paths: Record<string, Record<string, { operationId?: string }>> };

/** Resolves each method path on Claw and AsyncClaw; prints what is missing or of the wrong kind. */
const RESOLVE = `
import inspect, json, sys
from claw_sdk import AsyncClaw, Claw
problems = []
for label, client in (("Claw", Claw("http://127.0.0.1:1")), ("AsyncClaw", AsyncClaw("http://127.0.0.1:1"))):
    for path in json.loads(sys.argv[1]):
        target = client
        for part in path.split("."):
            target = getattr(target, part, None)
        if not callable(target):
            problems.append(f"{label}: no method {path}")
        elif label == "AsyncClaw" and not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)):
            problems.append(f"{label}: {path} is not a coroutine function nor an async generator")
        elif label == "Claw" and (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)):
            problems.append(f"{label}: {path} is async")
print(json.dumps(problems))
`;

describe.skipIf(skipWithout("the Python SDK", missingPython()))("the Python SDK", () => {
  it("passes its tests against real nodes, on Debian's python3 with nothing installed", () => {
    const r = spawnSync(PYTHON, ["-m", "pytest", "sdk/python/tests", "-q", "-p", "no:cacheprovider"], {
      cwd: ROOT,
      env: ENV,
      encoding: "utf8",
      timeout: 280_000,
    });
    expect(r.status, `pytest said:\n${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/\d+ passed/);
  }, 300_000);

  describe("parity with /openapi.json", () => {
    const f = useClawNode();

    it("has a method for every operation, on Claw and AsyncClaw, and lists them in its README", async () => {
      const doc = (await (await fetch(`http://127.0.0.1:${f.claw.httpPort}/openapi.json`)).json()) as OpenApi;
      const { required, unnamed } = sdkOperations(doc);
      expect(unnamed, "operations no SDK method is named for (test/support/sdk-parity.ts)").toEqual([]);
      expect(required.length).toBeGreaterThan(15);

      const paths = [...new Set(Object.values(SDK_METHODS))];
      const r = spawnSync(PYTHON, ["-c", RESOLVE, JSON.stringify(paths)], { cwd: ROOT, env: ENV, encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout) as string[]).toEqual([]);

      // the README's table: one row per named operation, its method, route and operationId as the document has them
      const routes = sdkRoutes(doc);
      const readme = readFileSync(`${ROOT}sdk/python/README.md`, "utf8");
      const rows = [...readme.matchAll(/^\| `([\w.]+)\(.*?\)` \| `([A-Z]+ [^`]+)` \| `(\w+)` \|$/gm)].map(([, method, route, id]) => ({ method, route, id }));
      expect(rows.map((r) => [r.id, r.method]).sort()).toEqual(Object.entries(SDK_METHODS).sort());
      for (const row of rows) expect(row.route, row.id).toBe(routes.get(row.id!));
    });
  });
});
