import { describe, expect, it } from "vitest";
import { startSupervisor, type SupervisorEvent } from "../../src/supervisors/supervisor.js";
import { readiness } from "../../src/supervisors/readiness.js";

/** A dependency (the bus) the test switches off and on. */
function switchable() {
  let problem: { reason: string } | undefined;
  const waiters: Array<() => void> = [];
  return {
    problem: () => problem,
    whenAvailable: (signal: AbortSignal) =>
      new Promise<void>((r) => {
        if (!problem) return r();
        waiters.push(r);
        signal.addEventListener("abort", () => r(), { once: true });
      }),
    down(reason: string) {
      problem = { reason };
    },
    up() {
      problem = undefined;
      for (const w of waiters.splice(0)) w();
    },
  };
}

const fast = { intensity: { maxRestarts: 2, windowMs: 60_000 }, backoff: { baseMs: 1, factor: 1, maxMs: 1 } };

describe("supervisor", () => {
  it("escalates a child that fails more often than its restart intensity allows", async () => {
    const escalated: string[] = [];
    let runs = 0;
    const s = startSupervisor([{ name: "flaky", run: async () => void runs++ }], { ...fast, onEscalate: (c) => escalated.push(c) });
    await new Promise((r) => setTimeout(r, 50));
    await s.stop();
    expect(escalated).toEqual(["flaky"]);
    expect(runs).toBe(3);
  });

  it("does not count failures while its dependency is down, and restarts the child once it is back", async () => {
    const dep = switchable();
    const events: SupervisorEvent[] = [];
    const escalated: string[] = [];
    let runs = 0;
    dep.down("nats: disconnected");
    const s = startSupervisor(
      [
        {
          name: "membership",
          async run(signal) {
            runs++;
            if (dep.problem()) throw new Error("TimeoutError: timeout");
            await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
          },
        },
      ],
      { ...fast, dependency: dep, onEvent: (e) => events.push(e), onEscalate: (c) => escalated.push(c) },
    );
    await new Promise((r) => setTimeout(r, 50));
    // a single failure so far: it waits instead of burning through its restarts
    expect(runs).toBe(1);
    expect(events).toEqual([{ type: "child.waiting", child: "membership", error: "Error: TimeoutError: timeout", reason: "nats: disconnected" }]);
    dep.up();
    await new Promise((r) => setTimeout(r, 20));
    expect(runs).toBe(2);
    await s.stop();
    expect(escalated).toEqual([]);
  });
});

describe("readiness", () => {
  it("is ready only when the bus serves, the node holds an assignment and is not stopping", () => {
    expect(readiness({ stopping: false, bus: undefined, assigned: true })).toEqual({ ready: true, reasons: [] });
    expect(readiness({ stopping: false, bus: { reason: "nats: disconnected" }, assigned: true })).toEqual({ ready: false, reasons: ["nats: disconnected"] });
    expect(readiness({ stopping: false, bus: undefined, assigned: false })).toEqual({ ready: false, reasons: ["partitions: not assigned"] });
    expect(readiness({ stopping: true, bus: { reason: "jetstream: storage full" }, assigned: false }).reasons).toEqual([
      "node: stopping",
      "jetstream: storage full",
      "partitions: not assigned",
    ]);
  });
});
