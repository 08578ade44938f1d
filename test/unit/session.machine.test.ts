import { describe, expect, it } from "vitest";
import { createActor, type Actor } from "xstate";
import { sessionMachine, type DeliverInput, type ThinkInput } from "../../src/actors/index.js";
import { historyInTranscripts } from "../../src/actors/session.machine.js";
import { driveTurn, type TurnEffects } from "../../src/actors/session-turn.js";
import type { Envelope } from "../../src/bus/index.js";

function message(id: string, text: string): Envelope {
  return { id, ts: 1, channel: "tg", account: "a", chat: "c", sender: { id: "u" }, kind: "message", text, media: [], metadata: {}, trace: {} };
}

/** Effects like the session host's: a model, and a publish that records what it delivered. */
function effectsWith(think: (i: ThinkInput) => Promise<{ text: string }>, deliveries: DeliverInput[] = []): TurnEffects {
  return {
    think: (i) => think(i),
    deliver: async (i) => {
      deliveries.push(i);
      return { id: `${i.inbound.id}:reply:0`, ts: 2 };
    },
  };
}

const input = { agent: "echo", session: "tg:a:c", historyLimit: 4 };

/** A message for the actor, then its turn driven to the end (as the session host does). */
async function turn(actor: Actor<typeof sessionMachine>, fx: TurnEffects, id: string, text: string, attempt = 1) {
  actor.send({ type: "inbound.received", envelope: message(id, text), attempt });
  await driveTurn(actor, fx, new AbortController().signal);
  return actor.getSnapshot();
}

describe("session machine", () => {
  it("goes idle → thinking → replying → idle and records the turn", async () => {
    const delivered: DeliverInput[] = [];
    const states: string[] = [];
    const actor = createActor(sessionMachine, { input });
    actor.subscribe((s) => states.push(String(s.value)));
    actor.start();
    const s = await turn(actor, effectsWith(async (i) => ({ text: i.message.text!.toUpperCase() }), delivered), "m1", "hi");
    expect(states).toEqual(["idle", "thinking", "replying", "idle"]);
    expect(delivered.map((d) => d.text)).toEqual(["HI"]);
    expect(s.context.history.map((t) => [t.role, t.text])).toEqual([["user", "hi"], ["assistant", "HI"]]);
    expect(s.context.turns).toBe(1);
    expect(s.context.current).toBeUndefined();
  });

  it("keeps only the last historyLimit entries", async () => {
    const actor = createActor(sessionMachine, { input }).start();
    const fx = effectsWith(async (i) => ({ text: i.message.text! }));
    for (let n = 1; n <= 3; n++) await turn(actor, fx, `m${n}`, `t${n}`);
    const ctx = actor.getSnapshot().context;
    expect(ctx.history.map((t) => t.text)).toEqual(["t2", "t2", "t3", "t3"]);
    expect(ctx.turns).toBe(3);
  });

  it("absorbs a redelivery of the last answered message", async () => {
    const delivered: DeliverInput[] = [];
    const actor = createActor(sessionMachine, { input }).start();
    const fx = effectsWith(async () => ({ text: "ok" }), delivered);
    await turn(actor, fx, "m1", "x");
    expect((await turn(actor, fx, "m1", "x", 2)).value).toBe("idle");
    expect(delivered).toHaveLength(1);
  });

  it("records a failure with its classification and returns to idle", async () => {
    const err = Object.assign(new Error("boom"), { code: "scripted_fail", transient: false });
    const actor = createActor(sessionMachine, { input }).start();
    const s = await turn(actor, effectsWith(async () => Promise.reject(err)), "m1", "x");
    expect(s.value).toBe("idle");
    expect(s.context.failure).toEqual({ turnId: "m1", code: "scripted_fail", message: "boom", transient: false });
    expect(s.context.history).toEqual([]);
    expect(s.context.lastTurnId).toBeUndefined();
  });

  it("treats unclassified errors as transient", async () => {
    const actor = createActor(sessionMachine, { input }).start();
    expect((await turn(actor, effectsWith(async () => Promise.reject(new Error("socket hang up"))), "m1", "x")).context.failure?.transient).toBe(true);
  });

  it("resumes from a persisted snapshot with its history", async () => {
    const fx = effectsWith(async (i) => ({ text: `${i.history.length}` }));
    const a = createActor(sessionMachine, { input }).start();
    await turn(a, fx, "m1", "x");
    const persisted = JSON.parse(JSON.stringify(a.getPersistedSnapshot()));
    a.stop();
    const b = createActor(sessionMachine, { input, snapshot: persisted }).start();
    expect((await turn(b, fx, "m1", "x", 2)).context.turns).toBe(1); // the redelivery is still recognised
    const s = await turn(b, fx, "m2", "y");
    expect(s.context.history.at(-1)?.text).toBe("2");
  });

  it("records a failed publish and answers nothing", async () => {
    const actor = createActor(sessionMachine, { input }).start();
    const fx: TurnEffects = { think: async () => ({ text: "ok" }), deliver: async () => Promise.reject(Object.assign(new Error("no ack"), { transient: true })) };
    const s = await turn(actor, fx, "m1", "x");
    expect(s.value).toBe("idle");
    expect(s.context.failure).toMatchObject({ turnId: "m1", message: "no ack", transient: true });
    expect(s.context.turns).toBe(0);
  });

  it("stops driving at the deadline, aborting the model, and leaves the actor mid-turn for the host to drop", async () => {
    const actor = createActor(sessionMachine, { input }).start();
    const deadline = new AbortController();
    let modelAborted = false;
    const fx: TurnEffects = {
      think: (_, signal) => new Promise((_, reject) => signal.addEventListener("abort", () => ((modelAborted = true), reject(new Error("cancelled"))))),
      deliver: async () => ({ id: "never", ts: 0 }),
    };
    actor.send({ type: "inbound.received", envelope: message("m1", "x"), attempt: 1 });
    setTimeout(() => deadline.abort(new Error("turn timeout")), 10);
    await expect(driveTurn(actor, fx, deadline.signal)).rejects.toThrow("turn timeout");
    expect(modelAborted).toBe(true);
    expect(actor.getSnapshot().value).toBe("thinking");
  });

  it("names the transcript entry of every remembered turn, and forgets them all after a turn without one", async () => {
    const actor = createActor(sessionMachine, { input }).start(); // historyLimit 4: two turns
    let seq = 0;
    const fx: TurnEffects = { think: async () => ({ text: "ok" }), deliver: async (i) => ({ id: `${i.inbound.id}:r`, ts: 2, transcriptSeq: ++seq * 10 }) };
    for (let n = 1; n <= 3; n++) await turn(actor, fx, `m${n}`, `t${n}`);
    let ctx = actor.getSnapshot().context;
    expect(ctx.historyRefs).toEqual([20, 30]);
    expect(ctx.history.map((t) => t.text)).toEqual(["t2", "ok", "t3", "ok"]);
    expect(historyInTranscripts(ctx)).toBe(true);
    await turn(actor, { ...fx, deliver: async (i) => ({ id: `${i.inbound.id}:r`, ts: 2 }) }, "m4", "t4");
    ctx = actor.getSnapshot().context;
    expect(ctx.historyRefs).toBeUndefined();
    expect(historyInTranscripts(ctx)).toBe(false);
    await turn(actor, fx, "m5", "t5");
    // one ref for two turns in the window: the history must stay in the snapshot
    expect(actor.getSnapshot().context.historyRefs).toEqual([40]);
    expect(historyInTranscripts(actor.getSnapshot().context)).toBe(false);
  });
});
