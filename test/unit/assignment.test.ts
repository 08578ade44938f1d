import { describe, expect, it } from "vitest";
import { moved, rendezvousAssign } from "../../src/supervisors/assignment.js";
import { recordRestart } from "../../src/supervisors/restart-intensity.js";

describe("rendezvous assignment", () => {
  const nodes = ["node-a", "node-b", "node-c"];

  it("is deterministic and independent of member order", () => {
    expect(rendezvousAssign(64, nodes)).toEqual(rendezvousAssign(64, [...nodes].reverse()));
  });

  it("spreads partitions roughly evenly", () => {
    const owners = rendezvousAssign(64, nodes);
    for (const n of nodes) {
      const count = owners.filter((o) => o === n).length;
      expect(count).toBeGreaterThan(10);
      expect(count).toBeLessThan(35);
    }
  });

  it("moves only the partitions of a node that leaves", () => {
    const before = rendezvousAssign(64, nodes);
    const after = rendezvousAssign(64, ["node-a", "node-c"]);
    for (let p = 0; p < 64; p++) if (before[p] !== "node-b") expect(after[p]).toBe(before[p]);
    expect(moved(before, after)).toBe(before.filter((o) => o === "node-b").length);
  });

  it("gives a joining node about P/N partitions, taken from the others", () => {
    const before = rendezvousAssign(64, nodes);
    const after = rendezvousAssign(64, [...nodes, "node-d"]);
    const n = moved(before, after);
    expect(after.filter((o) => o === "node-d").length).toBe(n);
    expect(n).toBeGreaterThan(8);
    expect(n).toBeLessThan(26);
  });

  it("assigns nothing without members", () => {
    expect(rendezvousAssign(8, [])).toEqual([]);
  });
});

describe("restart intensity", () => {
  const limit = { maxRestarts: 3, windowMs: 1000 };

  it("allows maxRestarts within the window and refuses one more", () => {
    let h: number[] = [];
    const allowed = [0, 100, 200, 300].map((t) => {
      const r = recordRestart(h, t, limit);
      h = r.history;
      return r.allowed;
    });
    expect(allowed).toEqual([true, true, true, false]);
  });

  it("forgets restarts older than the window", () => {
    const r = recordRestart([0, 100, 200], 1150, limit);
    expect(r).toEqual({ allowed: true, history: [200, 1150] });
  });
});
