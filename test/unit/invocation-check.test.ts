/**
 * The check before an invocation runs, alone: each reason to refuse, in the
 * order they are asked, as the event the invocation machine takes next.
 */
import { describe, expect, it } from "vitest";
import { checkInvocation } from "../../src/skills/invocation-check.js";
import { parseSkillDescriptor, type NodeDrivers, type SandboxDriver } from "../../src/skills/index.js";
import type { InvocationContext } from "../../src/skills/index.js";

const NOW = 1_000_000;
const driver: SandboxDriver = {
  name: "process",
  check: async () => ({ ok: true }),
  run: async () => ({ exitCode: 0, signal: null, stdout: "", stderr: "", durationMs: 0 }),
};
const drivers: NodeDrivers = new Map([
  ["node", driver],
  ["process", driver],
  ["container", { unavailable: "no container engine on this node" }],
]);
const deps = { nodeId: "n1", drivers, grants: { greet: { env: ["LANG"], secrets: [], readOnly: [] } } };

const skill = (o: Record<string, unknown> = {}) =>
  parseSkillDescriptor({
    id: "greet",
    version: "1.2.0",
    description: "d",
    runtime: "node",
    entrypoint: ["i.mjs"],
    input: { type: "object", properties: { name: { type: "string" } } },
    ...o,
  });
const context = (o: { input?: unknown; deliveries?: number; deadline?: number } = {}): InvocationContext => ({
  invocation: {
    id: "inv-1",
    skill: "greet",
    input: o.input ?? { name: "Ada" },
    replyTo: "claw.skill-result.inv-1",
    deadline: o.deadline ?? NOW + 10_000,
    trace: {},
  },
  deliveries: o.deliveries ?? 1,
  attempt: 0,
  durationMs: 0,
});

describe("checkInvocation", () => {
  it("lets a registered, granted skill with valid input run", () => {
    expect(checkInvocation(context(), skill(), deps, NOW)).toEqual({ type: "invocation.valid", skill: "greet@1.2.0" });
  });

  it("refuses, with a stable code, each reason not to run", () => {
    const code = (c: InvocationContext, d: ReturnType<typeof skill> | undefined) => {
      const e = checkInvocation(c, d, deps, NOW);
      return e.type === "invocation.refused" ? e.error.code : e.type;
    };
    expect(code(context(), undefined)).toBe("unknown_skill");
    expect(code(context({ deadline: NOW }), skill())).toBe("timeout");
    expect(code(context({ deliveries: 2 }), skill())).toBe("crashed");
    expect(code(context({ deliveries: 2 }), skill({ idempotent: true }))).toBe("invocation.valid");
    expect(code(context(), skill({ runtime: "container", image: "alpine:3", entrypoint: undefined }))).toBe("unavailable");
    expect(code(context(), skill({ permissions: { network: { allow: ["api.example.com"] } } }))).toBe("denied");
    expect(code(context(), skill({ permissions: { env: ["HOME"] } }))).toBe("denied");
    expect(code(context({ input: { name: 7 } }), skill())).toBe("invalid_input");
  });

  it("names the field of invalid input", () => {
    expect(checkInvocation(context({ input: { name: 7 } }), skill(), deps, NOW)).toMatchObject({
      type: "invocation.refused",
      skill: "greet@1.2.0",
      error: { code: "invalid_input", message: "input.name must be string" },
    });
  });
});
