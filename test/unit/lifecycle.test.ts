/**
 * A node's parts as an ordered list (src/supervisors/lifecycle.ts): started
 * in the order written, each given those before it, stopped in the reverse
 * — also when a start fails, or a stop is asked while the list still starts
 * — and the node's stop bounded whatever a part's stop does
 * (src/supervisors/node-stop.ts).
 */
import pino from "pino";
import { describe, expect, it } from "vitest";
import { lifecycle, StoppedWhileStartingError, type PartEnd } from "../../src/supervisors/lifecycle.js";
import { boundedStop } from "../../src/supervisors/node-stop.js";

const silent = pino({ level: "silent" });

/** A list of three parts that writes what happens to `log`. */
function abc(log: string[], o: { failAt?: string; stopFails?: string; hold?: Promise<void> } = {}) {
  const part = <T>(name: string): PartEnd<T> => ({
    stop: (_v, deadline) => {
      log.push(`stop ${name} by ${deadline}`);
      if (o.stopFails === name) throw new Error(`${name} would not stop`);
    },
    kill: () => void log.push(`kill ${name}`),
  });
  return lifecycle()
    .part("a", () => (log.push("start a"), 1), part<number>("a"))
    .part(
      "b",
      async ({ a }) => {
        log.push(`start b after a=${a}`);
        await o.hold;
        if (o.failAt === "b") throw new Error("b failed");
        return a + 1;
      },
      part<number>("b"),
    )
    .part("c", ({ a, b }) => (log.push(`start c after a=${a} b=${b}`), a + b), part<number>("c"));
}
const control = { stop: async () => {} };

describe("a lifecycle", () => {
  it("starts its parts in order, each given those before it, and stops them in reverse with the deadline", async () => {
    const log: string[] = [];
    const list = abc(log);
    expect(log).toEqual([]);
    expect(await list.start(control)).toEqual({ a: 1, b: 2, c: 3 });
    await list.stop(42);
    expect(log).toEqual(["start a", "start b after a=1", "start c after a=1 b=2", "stop c by 42", "stop b by 42", "stop a by 42"]);
    // once: a second stop stops nothing again
    await list.stop(43);
    expect(log.filter((l) => l.startsWith("stop"))).toHaveLength(3);
  });

  it("stops what started, last first, when a part fails to start, and starts nothing after it", async () => {
    const log: string[] = [];
    await expect(abc(log, { failAt: "b" }).start(control)).rejects.toThrow("b failed");
    expect(log).toEqual(["start a", "start b after a=1", expect.stringMatching(/^stop a by \d+$/)]);
  });

  it("stops every part even when one's stop throws, and throws that failure at the end", async () => {
    const log: string[] = [];
    const list = abc(log, { stopFails: "b" });
    await list.start(control);
    await expect(list.stop(7)).rejects.toThrow("b would not stop");
    expect(log.slice(3)).toEqual(["stop c by 7", "stop b by 7", "stop a by 7"]);
  });

  it("stops the part starting and those before it when a stop is asked while it starts, and starts nothing more", async () => {
    const log: string[] = [];
    let release!: () => void;
    const list = abc(log, { hold: new Promise<void>((r) => (release = r)) });
    const started = list.start(control);
    await new Promise((r) => setTimeout(r, 10));
    const stopped = list.stop(5);
    release();
    await expect(started).rejects.toBeInstanceOf(StoppedWhileStartingError);
    await stopped;
    expect(log.filter((l) => l.startsWith("start c"))).toEqual([]);
    expect(log.filter((l) => l.startsWith("stop"))).toEqual([expect.stringMatching(/^stop b by \d+$/), "stop a by 5"]);
  });

  it("kills every part it started, last first, those already stopping too", async () => {
    const log: string[] = [];
    const list = abc(log);
    await list.start(control);
    await list.kill();
    expect(log.slice(3)).toEqual(["kill c", "kill b", "kill a"]);
    expect(list.started()).toEqual({ a: 1, b: 2, c: 3 });
  });
});

describe("a node's bounded stop", () => {
  it("ends within drainMs plus its grace when a part's stop never returns, killing what must not outlive it", async () => {
    const events: string[] = [];
    const stop = boundedStop(
      { stop: () => new Promise<void>(() => {}), kill: async () => void events.push("kill") },
      { drainMs: 100, graceMs: 100, log: silent, onStopped: () => events.push("stopped") },
    );
    const t0 = Date.now();
    await stop();
    const ms = Date.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(190);
    expect(ms).toBeLessThan(1_000);
    expect(events).toEqual(["kill", "stopped"]);
    // once
    expect(stop()).toBe(stop());
  });

  it("kills nothing when the parts stop in time, and gives them a deadline drainMs away", async () => {
    const events: string[] = [];
    let deadline = 0;
    const t0 = Date.now();
    await boundedStop(
      { stop: async (d) => void (deadline = d), kill: async () => void events.push("kill") },
      { drainMs: 1_500, graceMs: 100, log: silent, onStopped: () => events.push("stopped") },
    )();
    expect(events).toEqual(["stopped"]);
    expect(deadline - t0).toBeGreaterThanOrEqual(1_500);
    expect(deadline - t0).toBeLessThan(2_000);
  });
});
