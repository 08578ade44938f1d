import { describe, expect, it } from "vitest";
import { approxTokens, historyWithin } from "../../src/actors/index.js";
import type { Turn } from "../../src/llm/index.js";

const turn = (role: Turn["role"], text: string, id: string): Turn => ({ role, text, id, ts: 0 });

describe("session memory", () => {
  it("counts about four characters a token, plus a few for the message", () => {
    expect(approxTokens("")).toBe(4);
    expect(approxTokens("x".repeat(400))).toBe(104);
  });

  it("keeps the newest turns that fit the budget, never starting with an answer", () => {
    const h = [
      turn("user", "a".repeat(80), "1"),
      turn("assistant", "b".repeat(80), "1r"),
      turn("user", "c".repeat(80), "2"),
      turn("assistant", "d".repeat(8), "2r"),
    ];
    // 24 + 6 = 30 for the last pair; the earlier answer (24) would fit 54 but its question would not
    expect(historyWithin(h, 54)).toEqual({ kept: h.slice(2), dropped: 2 });
    expect(historyWithin(h, 1000)).toEqual({ kept: h, dropped: 0 });
    expect(historyWithin(h, 5)).toEqual({ kept: [], dropped: 4 });
  });
});
