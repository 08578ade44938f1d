/**
 * The tenants' quotas where a turn is to run, without I/O: past
 * `tokensPerDay` and (for a new session) `sessions` a turn is refused naming
 * the quota; past `concurrentTurns` (each node's share) and
 * `messagesPerMinute` it waits in its tenant's line, first come first let
 * in, while another tenant's turns go at once; a wait ends when its message
 * is given back.
 */
import { describe, expect, it } from "vitest";
import { turnQuotas, type QuotaAnswer, type Quotas, type TurnQuotasOptions } from "../../src/tenants/index.js";

const tick = () => new Promise((r) => setTimeout(r, 10));

function setup(quotas: Record<string, Quotas>, o: Partial<TurnQuotasOptions> = {}) {
  const refused: string[] = [];
  const waited: string[] = [];
  const q = turnQuotas({
    tenantOf: (agent) => (agent.includes("/") ? agent.split("/")[0] : undefined),
    quotas: (t) => quotas[t],
    tokensToday: async () => 0,
    takeMessage: async () => ({ ok: true }),
    nodes: () => 1,
    onRefused: (t, quota) => refused.push(`${t}:${quota}`),
    onWaiting: (t, quota) => waited.push(`${t}:${quota}`),
    ...o,
  });
  const turn = (agent: string, extra: { counted?: boolean; signal?: AbortSignal; session?: string } = {}) =>
    q.admit({ agent, session: extra.session ?? "s", counted: extra.counted ?? false, signal: extra.signal ?? new AbortController().signal });
  return { q, turn, refused, waited };
}

/** tracks when each admission settles */
function watch(p: Promise<QuotaAnswer>) {
  const w: { answer?: QuotaAnswer } = {};
  void p.then((a) => (w.answer = a));
  return w;
}

describe("tenants' quotas on turns", () => {
  it("refuses a tenant's turn past tokensPerDay until the next UTC midnight, and lets the operator's and another tenant's through", async () => {
    const { turn, refused } = setup(
      { acme: { tokensPerDay: 100 }, beta: {} },
      { tokensToday: async (t) => (t === "acme" ? 140 : 0), now: () => Date.parse("2026-12-04T23:59:00Z") },
    );
    const a = await turn("acme/support");
    expect(a).toMatchObject({ kind: "refused", code: "quota_exceeded", retryAfterS: 60 });
    expect(a.kind === "refused" && a.message).toContain("100 tokens");
    expect((await turn("beta/support")).kind).toBe("go");
    expect((await turn("support")).kind).toBe("go");
    expect(refused).toEqual(["acme:tokensPerDay"]);
  });

  it("refuses a new session past sessions, and lets a counted one go", async () => {
    const counted = new Set(["acme/support.old"]);
    const { turn, refused } = setup(
      { acme: { sessions: 1 } },
      { sessions: { admit: async (_t, agent, session) => counted.has(`${agent}.${session}`), count: async () => 1 } },
    );
    expect((await turn("acme/support", { session: "old" })).kind).toBe("go");
    expect(await turn("acme/support", { session: "new" })).toMatchObject({ kind: "refused", code: "quota_exceeded" });
    expect(refused).toEqual(["acme:sessions"]);
  });

  it("keeps turns past concurrentTurns waiting in order, lets another tenant's go at once, and lets the next in as one ends", async () => {
    const { q, turn, waited } = setup({ acme: { concurrentTurns: 2 }, beta: { concurrentTurns: 1 } });
    const first = await turn("acme/support");
    const second = await turn("acme/support");
    expect([first.kind, second.kind]).toEqual(["go", "go"]);
    const third = watch(turn("acme/support"));
    const fourth = watch(turn("acme/support"));
    await tick();
    expect(third.answer).toBeUndefined();
    expect(q.running("acme")).toBe(2);
    expect(q.waiting("acme")).toBe(2);
    // beta is not in acme's line
    expect((await turn("beta/support")).kind).toBe("go");
    if (first.kind === "go") first.release();
    await tick();
    expect(third.answer?.kind).toBe("go");
    expect(fourth.answer).toBeUndefined();
    if (second.kind === "go") {
      second.release();
      second.release(); // twice is once
    }
    await tick();
    expect(fourth.answer?.kind).toBe("go");
    expect(q.running("acme")).toBe(2);
    expect(waited).toEqual(["acme:concurrentTurns", "acme:concurrentTurns"]);
  });

  it("gives each node its share of concurrentTurns: the limit over the live nodes, at least 1", async () => {
    let nodes = 2;
    const { turn } = setup({ acme: { concurrentTurns: 5 } }, { nodes: () => nodes });
    const go = [await turn("acme/support"), await turn("acme/support")];
    expect(go.map((a) => a.kind)).toEqual(["go", "go"]);
    const third = watch(turn("acme/support"));
    await new Promise((r) => setTimeout(r, 50));
    expect(third.answer).toBeUndefined();
    // a node left: this one's share is the whole limit (looked at again within a second)
    nodes = 1;
    await new Promise((r) => setTimeout(r, 1_200));
    expect(third.answer?.kind).toBe("go");
    nodes = 10;
    const { turn: alone } = setup({ acme: { concurrentTurns: 5 } }, { nodes: () => nodes });
    expect((await alone("acme/support")).kind).toBe("go");
  });

  it("keeps a message from the bus waiting for its tenant's messagesPerMinute; one the gateway counted is not counted again", async () => {
    let tokens = 1;
    const taken: string[] = [];
    const { turn, waited } = setup(
      { acme: { messagesPerMinute: 60 } },
      {
        takeMessage: async (t) => {
          taken.push(t);
          if (tokens > 0) {
            tokens--;
            return { ok: true };
          }
          return { ok: false, retryAfterS: 0 };
        },
      },
    );
    expect((await turn("acme/support")).kind).toBe("go");
    expect((await turn("acme/support", { counted: true })).kind).toBe("go");
    expect(taken).toEqual(["acme"]);
    const waiting = watch(turn("acme/support"));
    await tick();
    expect(waiting.answer).toBeUndefined();
    expect(waited).toEqual(["acme:messagesPerMinute"]);
    tokens = 1;
    await new Promise((r) => setTimeout(r, 300));
    expect(waiting.answer?.kind).toBe("go");
  });

  it("gives a waiting turn back when its message is, and the line moves on", async () => {
    const { turn } = setup({ acme: { concurrentTurns: 1 } });
    const first = await turn("acme/support");
    const handedOver = new AbortController();
    const waiting = watch(turn("acme/support", { signal: handedOver.signal }));
    const after = watch(turn("acme/support"));
    await tick();
    handedOver.abort();
    await tick();
    expect(waiting.answer?.kind).toBe("released");
    expect(after.answer).toBeUndefined();
    if (first.kind === "go") first.release();
    await tick();
    expect(after.answer?.kind).toBe("go");
  });
});
