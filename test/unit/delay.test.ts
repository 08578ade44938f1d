import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { delay } from "../../src/bus/index.js";

describe("delay", () => {
  it("leaves no abort listener behind when the time is up", async () => {
    const ac = new AbortController();
    for (let i = 0; i < 20; i++) await delay(1, ac.signal);
    expect(getEventListeners(ac.signal, "abort")).toHaveLength(0);
  });

  it("resolves at once when aborted", async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = delay(10_000, ac.signal);
    ac.abort();
    await p;
    expect(Date.now() - t0).toBeLessThan(1000);
    await delay(10_000, ac.signal); // already aborted
  });
});
