import { describe, expect, it } from "vitest";
import { createActor, fromPromise, waitFor } from "xstate";
import { partitionOwnerMachine } from "../../src/supervisors/partition-owner.machine.js";

/** A partition owner whose effects are recorded and released by hand. */
function owner(o: { claimed?: boolean; startFails?: boolean } = {}) {
  const log: string[] = [];
  let finishStart!: () => void;
  const startGate = new Promise<void>((r) => (finishStart = r));
  const machine = partitionOwnerMachine.provide({
    actors: {
      claim: fromPromise(async ({ input, signal }) => {
        log.push(`claim ${input.partition}@${input.epoch}`);
        if (o.claimed === undefined) await new Promise((r) => signal.addEventListener("abort", r)); // claims forever until stopped
        return o.claimed ?? false;
      }),
      start: fromPromise(async () => {
        log.push("start");
        await startGate;
        if (o.startFails) throw new Error("NATS down");
      }),
      drain: fromPromise(async () => {
        log.push("drain");
      }),
    },
  });
  const actor = createActor(machine, { input: { partition: 7, node: "n1", epoch: 3 } });
  const states: string[] = [];
  actor.subscribe((s) => states.push(String(s.value)));
  actor.start();
  return { actor, log, states, finishStart };
}

describe("the partition owner machine", () => {
  it("claims, starts, runs, and on release drains before it is released", async () => {
    const { actor, log, states, finishStart } = owner({ claimed: true });
    finishStart();
    await waitFor(actor, (s) => s.matches("running"));
    actor.send({ type: "release" });
    await waitFor(actor, (s) => s.status === "done");
    expect(states).toEqual(["claiming", "starting", "running", "draining", "released"]);
    expect(log).toEqual(["claim 7@3", "start", "drain"]);
  });

  it("is released without running when the claim is no longer wanted", async () => {
    const { actor, log } = owner({ claimed: false });
    const s = await waitFor(actor, (x) => x.status === "done");
    expect(s.value).toBe("released");
    expect(log).toEqual(["claim 7@3"]);
  });

  it("drains (dropping a claim it may have just written) when released while claiming", async () => {
    const { actor, log, states } = owner();
    await waitFor(actor, (s) => s.matches("claiming"));
    actor.send({ type: "release" });
    await waitFor(actor, (s) => s.status === "done");
    expect(states).toEqual(["claiming", "draining", "released"]);
    expect(log).toEqual(["claim 7@3", "drain"]);
  });

  it("remembers a release that arrives while starting, and drains once the runner is up", async () => {
    const { actor, log, states, finishStart } = owner({ claimed: true });
    await waitFor(actor, (s) => s.matches("starting"));
    actor.send({ type: "release" });
    finishStart();
    await waitFor(actor, (s) => s.status === "done");
    expect(states).not.toContain("running");
    expect(states.at(-1)).toBe("released");
    expect(log).toEqual(["claim 7@3", "start", "drain"]);
  });

  it("drops the claim and fails when the runner cannot start", async () => {
    const { actor, log, finishStart } = owner({ claimed: true, startFails: true });
    finishStart();
    const s = await waitFor(actor, (x) => x.status === "done");
    expect(s.value).toBe("failed");
    expect(s.context.error).toContain("NATS down");
    expect(log).toEqual(["claim 7@3", "start", "drain"]);
  });
});
