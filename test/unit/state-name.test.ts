import { describe, expect, it } from "vitest";
import { stateName } from "../../src/observability/index.js";

describe("stateName", () => {
  it("names simple, nested and parallel states by the paths of their active leaves", () => {
    expect(stateName("idle")).toBe("idle");
    expect(stateName({ running: "draining" })).toBe("running.draining");
    expect(stateName({ lifecycle: "serving", leadership: "leader" })).toBe("lifecycle.serving|leadership.leader");
    expect(stateName({ b: { r1: "x", r2: "p" } })).toBe("b.r1.x|b.r2.p");
    expect(stateName({ a: { b: { c: "d" } }, e: "f" })).toBe("a.b.c.d|e.f");
    expect(stateName({ done: {} })).toBe("done");
    expect(stateName(undefined)).toBe("");
  });
});
