import { describe, expect, it } from "vitest";
import { createSessionQueue } from "../../src/actors/session-queue.js";

/** A promise and its resolver. */
function gate<T = void>() {
  let open!: (v: T) => void;
  const p = new Promise<T>((r) => (open = r));
  return { p, open };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("session queue", () => {
  it("runs operations one at a time, in the order they were queued, a failed one included", async () => {
    const q = createSessionQueue();
    const log: string[] = [];
    const first = gate();
    const a = q.serial(async () => {
      log.push("a start");
      await first.p;
      log.push("a end");
      throw new Error("a failed");
    });
    const b = q.serial(async () => {
      log.push("b");
      return 2;
    });
    await tick();
    expect(log).toEqual(["a start"]);
    first.open();
    await expect(a).rejects.toThrow("a failed");
    expect(await b).toBe(2);
    expect(log).toEqual(["a start", "a end", "b"]);
  });

  it("starts a user message only when the one before it has been handled, whatever its outcome", async () => {
    const q = createSessionQueue();
    const log: string[] = [];
    const first = gate();
    const m1 = q.inOrder(async () => {
      await first.p;
      log.push("m1");
      throw new Error("m1 failed");
    });
    const m2 = q.inOrder(async () => log.push("m2"));
    await tick();
    expect(log).toEqual([]);
    first.open();
    await expect(m1).rejects.toThrow("m1 failed");
    await m2;
    expect(log).toEqual(["m1", "m2"]);
  });

  it("wakes a message waiting for the session after the next operation, not before", async () => {
    const q = createSessionQueue();
    const op = gate();
    const running = q.serial(() => op.p);
    let woke: boolean | undefined;
    void q.nextOperation([]).then((w) => (woke = w));
    await tick();
    expect(woke).toBeUndefined();
    op.open();
    await running;
    await tick();
    expect(woke).toBe(true);
  });

  it("gives a waiting message back as soon as a signal aborts, and at once when one already has", async () => {
    const q = createSessionQueue();
    const handover = new AbortController();
    const waiting = q.nextOperation([undefined, handover.signal]);
    handover.abort();
    expect(await waiting).toBe(false);
    expect(await q.nextOperation([handover.signal])).toBe(false);
  });

  it("wakes a waiting message after the time given when no operation comes", async () => {
    const q = createSessionQueue();
    const started = Date.now();
    expect(await q.nextOperation([], 30)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });

  it("is idle only with no request in, since its last one ended", async () => {
    let now = 1_000;
    const q = createSessionQueue(() => now);
    const request = gate();
    const busy = q.busy(() => request.p);
    now = 5_000;
    expect(q.idleSince(10_000)).toBe(false);
    request.open();
    await busy;
    expect(q.idleSince(4_999)).toBe(false);
    expect(q.idleSince(5_000)).toBe(true);
  });

  it("settles once everything queued so far has ended", async () => {
    const q = createSessionQueue();
    const op = gate();
    const turn = gate();
    void q.serial(() => op.p);
    void q.inOrder(() => turn.p);
    let settled = false;
    void q.settled().then(() => (settled = true));
    op.open();
    await tick();
    expect(settled).toBe(false);
    turn.open();
    await tick();
    expect(settled).toBe(true);
  });
});
