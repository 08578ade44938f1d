import { describe, expect, it } from "vitest";
import { backoffDelay, defaultBackoff } from "../../src/bus/index.js";

describe("backoff", () => {
  const p = defaultBackoff();

  it("doubles from 1 s and caps at 30 s, with jitter in [half, full]", () => {
    expect([0, 1, 2, 3, 4, 5, 9].map((a) => backoffDelay(p, a, () => 1))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect([0, 1, 2].map((a) => backoffDelay(p, a, () => 0))).toEqual([500, 1000, 2000]);
  });

  it("never goes below half or above the cap", () => {
    for (let i = 0; i < 1000; i++) {
      const d = backoffDelay(p, i % 8);
      expect(d).toBeGreaterThanOrEqual(500);
      expect(d).toBeLessThanOrEqual(30_000);
    }
  });
});
