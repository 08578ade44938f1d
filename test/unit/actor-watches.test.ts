import { describe, expect, it } from "vitest";
import { actorWatches } from "../../src/observability/actor-watches.js";

describe("the actor watch table", () => {
  it("holds a watch for its ttl, then lets it lapse", () => {
    let t = 1_000;
    const w = actorWatches(() => t);
    expect(w.add({ kind: "session", id: "a.b", ttlMs: 500 })).toBe("a.b");
    expect(w.watched("session", "a.b")).toBe(true);
    expect(w.watched("session", "a.c")).toBe(false);
    t += 500;
    expect(w.watched("session", "a.b")).toBe(false);
  });

  it("reads a missing or empty id, and kind *, as every actor", () => {
    let t = 0;
    const w = actorWatches(() => t);
    expect(w.add({ kind: "partition", id: "", ttlMs: 100 })).toBe("*");
    expect(w.watched("partition", "7")).toBe(true);
    expect(w.watched("session", "a.b")).toBe(false);
    w.add({ kind: "*", ttlMs: 100 });
    expect(w.watched("session", "a.b")).toBe(true);
    t = 100;
    expect(w.watched("session", "a.b")).toBe(false);
  });

  it("caps a watch at five minutes however long it asks for", () => {
    let t = 0;
    const w = actorWatches(() => t);
    w.add({ kind: "node", id: "n1", ttlMs: 3_600_000 });
    t = 5 * 60_000 - 1;
    expect(w.watched("node", "n1")).toBe(true);
    t = 5 * 60_000;
    expect(w.watched("node", "n1")).toBe(false);
  });
});
