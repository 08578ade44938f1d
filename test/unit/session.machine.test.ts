import { describe, expect, it } from "vitest";
import { createActor, fromPromise, waitFor } from "xstate";
import { sessionMachine, type DeliverInput, type ThinkInput } from "../../src/actors/index.js";
import type { Envelope } from "../../src/bus/index.js";

function message(id: string, text: string): Envelope {
  return { id, ts: 1, channel: "tg", account: "a", chat: "c", sender: { id: "u" }, kind: "message", text, media: [], metadata: {}, trace: {} };
}

function machineWith(think: (i: ThinkInput) => Promise<{ text: string }>, deliveries: DeliverInput[] = []) {
  return sessionMachine.provide({
    actors: {
      model: fromPromise<{ text: string }, ThinkInput>(({ input }) => think(input)),
      deliver: fromPromise(async ({ input }: { input: DeliverInput }) => {
        deliveries.push(input);
        return { id: `${input.inbound.id}:reply:0`, ts: 2 };
      }),
    },
  });
}

const input = { agent: "echo", session: "tg:a:c", historyLimit: 4 };
const idleAfter = (id: string) => (s: { matches: (v: "idle") => boolean; context: { lastTurnId?: string; failure?: { turnId: string } } }) =>
  s.matches("idle") && (s.context.lastTurnId === id || s.context.failure?.turnId === id);

describe("session machine", () => {
  it("goes idle → thinking → replying → idle and records the turn", async () => {
    const delivered: DeliverInput[] = [];
    const states: string[] = [];
    const actor = createActor(machineWith(async (i) => ({ text: i.message.text!.toUpperCase() }), delivered), { input });
    actor.subscribe((s) => states.push(String(s.value)));
    actor.start();
    actor.send({ type: "inbound.received", envelope: message("m1", "hi"), attempt: 1 });
    const s = await waitFor(actor, idleAfter("m1"));
    expect(states).toEqual(["idle", "thinking", "replying", "idle"]);
    expect(delivered.map((d) => d.text)).toEqual(["HI"]);
    expect(s.context.history.map((t) => [t.role, t.text])).toEqual([["user", "hi"], ["assistant", "HI"]]);
    expect(s.context.turns).toBe(1);
    expect(s.context.current).toBeUndefined();
  });

  it("keeps only the last historyLimit entries", async () => {
    const actor = createActor(machineWith(async (i) => ({ text: i.message.text! })), { input }).start();
    for (let n = 1; n <= 3; n++) {
      actor.send({ type: "inbound.received", envelope: message(`m${n}`, `t${n}`), attempt: 1 });
      await waitFor(actor, idleAfter(`m${n}`));
    }
    const ctx = actor.getSnapshot().context;
    expect(ctx.history.map((t) => t.text)).toEqual(["t2", "t2", "t3", "t3"]);
    expect(ctx.turns).toBe(3);
  });

  it("absorbs a redelivery of the last answered message", async () => {
    const delivered: DeliverInput[] = [];
    const actor = createActor(machineWith(async () => ({ text: "ok" }), delivered), { input }).start();
    actor.send({ type: "inbound.received", envelope: message("m1", "x"), attempt: 1 });
    await waitFor(actor, idleAfter("m1"));
    actor.send({ type: "inbound.received", envelope: message("m1", "x"), attempt: 2 });
    expect(actor.getSnapshot().value).toBe("idle");
    expect(delivered).toHaveLength(1);
  });

  it("records a failure with its classification and returns to idle", async () => {
    const err = Object.assign(new Error("boom"), { code: "scripted_fail", transient: false });
    const actor = createActor(machineWith(async () => Promise.reject(err)), { input }).start();
    actor.send({ type: "inbound.received", envelope: message("m1", "x"), attempt: 1 });
    const s = await waitFor(actor, idleAfter("m1"));
    expect(s.context.failure).toEqual({ turnId: "m1", code: "scripted_fail", message: "boom", transient: false });
    expect(s.context.history).toEqual([]);
    expect(s.context.lastTurnId).toBeUndefined();
  });

  it("treats unclassified errors as transient", async () => {
    const actor = createActor(machineWith(async () => Promise.reject(new Error("socket hang up"))), { input }).start();
    actor.send({ type: "inbound.received", envelope: message("m1", "x"), attempt: 1 });
    expect((await waitFor(actor, idleAfter("m1"))).context.failure?.transient).toBe(true);
  });

  it("resumes from a persisted snapshot with its history", async () => {
    const m = machineWith(async (i) => ({ text: `${i.history.length}` }));
    const a = createActor(m, { input }).start();
    a.send({ type: "inbound.received", envelope: message("m1", "x"), attempt: 1 });
    await waitFor(a, idleAfter("m1"));
    const persisted = JSON.parse(JSON.stringify(a.getPersistedSnapshot()));
    a.stop();
    const b = createActor(m, { input, snapshot: persisted }).start();
    b.send({ type: "inbound.received", envelope: message("m1", "x"), attempt: 2 });
    expect(b.getSnapshot().context.turns).toBe(1); // the redelivery is still recognised
    b.send({ type: "inbound.received", envelope: message("m2", "y"), attempt: 1 });
    const s = await waitFor(b, idleAfter("m2"));
    expect(s.context.history.at(-1)?.text).toBe("2");
  });
});
