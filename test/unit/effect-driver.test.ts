/**
 * The driver's deadline: an aborted signal rejects the drive with its reason
 * and leaves the actor mid-turn, whatever the effect in progress does later
 * (resolves, rejects — never an unhandled rejection, which would end a
 * node), and a drive leaves no listener behind on the signal.
 */
import { getEventListeners } from "node:events";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createActor, setup } from "xstate";
import { driveActor } from "../../src/effect-driver.js";

type Ev = { type: "go" } | { type: "done" };
const machine = setup({ types: { events: {} as Ev } }).createMachine({
  initial: "idle",
  states: {
    idle: { on: { go: "one" } },
    one: { meta: { effect: "step" }, on: { done: "two" } },
    two: { meta: { effect: "step" }, on: { done: "end" } },
    end: {},
  },
});

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => void unhandled.push(e);
beforeEach(() => void process.on("unhandledRejection", onUnhandled));
afterEach(() => void process.off("unhandledRejection", onUnhandled));

describe("driveActor", () => {
  it("runs the effects to the end, one listener on the signal at a time and none after", async () => {
    const signal = new AbortController().signal;
    const seen: number[] = [];
    const actor = createActor(machine).start();
    actor.send({ type: "go" });
    const step = async () => {
      await Promise.resolve();
      seen.push(getEventListeners(signal, "abort").length);
      return { type: "done" } as const;
    };
    expect(await driveActor(actor, { step }, signal)).toBe("settled");
    expect(actor.getSnapshot().value).toBe("end");
    expect(seen).toEqual([1, 1]);
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });

  it("rejects with the deadline's reason mid-effect and leaves the actor there; what the effect does later goes nowhere", async () => {
    const deadline = new AbortController();
    const actor = createActor(machine).start();
    actor.send({ type: "go" });
    let fail!: (e: Error) => void;
    const step = () => new Promise<Ev>((_, reject) => (fail = reject));
    const driving = driveActor(actor, { step }, deadline.signal);
    await new Promise((r) => setTimeout(r, 5));
    const why = new Error("turn timed out");
    deadline.abort(why);
    await expect(driving).rejects.toBe(why);
    expect(actor.getSnapshot().value).toBe("one");
    fail(new Error("late failure"));
    await new Promise((r) => setTimeout(r, 20));
    expect(unhandled).toEqual([]);
    expect(getEventListeners(deadline.signal, "abort")).toHaveLength(0);
  });

  it("does not take an effect's outcome once the deadline has passed, even one that is ready at once", async () => {
    const deadline = new AbortController();
    const why = new Error("too late");
    deadline.abort(why);
    const actor = createActor(machine).start();
    actor.send({ type: "go" });
    await expect(driveActor(actor, { step: async () => ({ type: "done" }) as const }, deadline.signal)).rejects.toBe(why);
    expect(actor.getSnapshot().value).toBe("one");
    const failing = driveActor(actor, { step: () => Promise.reject(new Error("late")) }, deadline.signal);
    await expect(failing).rejects.toBe(why);
    await new Promise((r) => setTimeout(r, 20));
    expect(unhandled).toEqual([]);
  });
});
