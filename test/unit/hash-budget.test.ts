/**
 * The scrypt budget of callers without a proven credential
 * (src/auth/hash-budget.ts), with an injected clock: per-address failures
 * refilled slowly, successes given back, and the checks running at once
 * bounded with a bounded queue.
 */
import { describe, expect, it } from "vitest";
import { createHashBudget } from "../../src/auth/index.js";

const base = { perAddress: { burst: 3, perSecond: 0.5 }, concurrency: 2, queue: 2, maxAddresses: 100 };

describe("hash budget", () => {
  it("lets an address fail `burst` times, then refuses until it refills; successes cost nothing", async () => {
    let now = 0;
    const b = createHashBudget({ ...base, now: () => now });
    const fail = () => b.run("a", async () => false);
    for (let i = 0; i < 3; i++) expect(await fail()).toEqual({ ok: true, passed: false });
    expect(await fail()).toEqual({ ok: false, refused: "throttled", retryAfterS: 2 });
    // another address is not concerned
    expect(await b.run("b", async () => false)).toEqual({ ok: true, passed: false });
    now += 2_000;
    expect(await fail()).toMatchObject({ ok: true });
    expect(await fail()).toMatchObject({ refused: "throttled" });
    now += 2_000;
    for (let i = 0; i < 10; i++) expect(await b.run("a", async () => true), `success ${i}`).toEqual({ ok: true, passed: true });
  });

  it("runs `concurrency` checks at once, queues `queue`, and refuses the rest at once", async () => {
    const b = createHashBudget({ ...base, perAddress: { burst: 100, perSecond: 1 } });
    let running = 0;
    let most = 0;
    const releases: Array<() => void> = [];
    const check = () =>
      new Promise<boolean>((resolve) => {
        most = Math.max(most, ++running);
        releases.push(() => {
          running--;
          resolve(false);
        });
      });
    const all = Array.from({ length: 6 }, (_v, i) => b.run(`addr${i}`, check));
    await new Promise((r) => setTimeout(r, 10));
    expect(running).toBe(2);
    const settled = await Promise.race([Promise.all(all.slice(4)), new Promise((r) => setTimeout(() => r("pending"), 50))]);
    expect(settled).toEqual([
      { ok: false, refused: "busy", retryAfterS: 1 },
      { ok: false, refused: "busy", retryAfterS: 1 },
    ]);
    while (releases.length > 0 || running > 0) {
      releases.shift()?.();
      await new Promise((r) => setTimeout(r, 1));
    }
    expect((await Promise.all(all.slice(0, 4))).every((r) => r.ok)).toBe(true);
    expect(most).toBe(2);
  });
});
