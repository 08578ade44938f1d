import { describe, expect, it } from "vitest";
import { defaultLanePolicy, lanePolicyProblems, type LanePolicy } from "../../src/bus/index.js";

const policy = (p: Partial<LanePolicy>): LanePolicy => ({ ...defaultLanePolicy(), ...p });

describe("a consumer lane's policy", () => {
  it("is fine by default, and with a reset on failure where the lane takes its consumer over", () => {
    expect(lanePolicyProblems(defaultLanePolicy())).toEqual([]);
    expect(lanePolicyProblems(policy({ takeover: true, ordering: { kind: "serial" }, onFailure: { transient: "reset", other: "reset" } }))).toEqual([]);
  });

  it("refuses a reset on a handler's failure on a shared consumer", () => {
    expect(lanePolicyProblems(policy({ onFailure: { transient: "reset", other: "nak" } }))).toEqual([
      "a reset on a handler's failure needs takeover: on a shared consumer the message would wait out its ack wait",
    ]);
  });

  it("refuses pulls and bounds that cannot work", () => {
    const problems = lanePolicyProblems(policy({ pullBatch: 0, pullExpiresMs: 500, pullHeartbeatMs: 500, ordering: { kind: "parallel", maxInFlight: 0 } }));
    expect(problems).toHaveLength(4);
    expect(problems.join("\n")).toMatch(/pullBatch .* not 0/);
    expect(problems.join("\n")).toMatch(/pullExpiresMs .* not 500/);
    expect(problems.join("\n")).toMatch(/pullHeartbeatMs .* not 500/);
    expect(problems.join("\n")).toMatch(/maxInFlight .* not 0/);
  });
});
