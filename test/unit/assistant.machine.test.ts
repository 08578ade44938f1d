import { describe, expect, it } from "vitest";
import { createActor, initialTransition, transition, type Actor } from "xstate";
import {
  assistantMachine,
  driveActor,
  effectOf,
  historyInTranscripts,
  mediaOfSteps,
  toFailure,
  type AssistantContext,
  type EffectsOf,
  type AssistantEvent,
} from "../../src/actors/index.js";
import type { Envelope } from "../../src/bus/index.js";
import type { ToolCall } from "../../src/llm/index.js";

function message(id: string, text: string): Envelope {
  return { id, ts: 1, channel: "tg", account: "a", chat: "c", sender: { id: "u" }, kind: "message", text, media: [], metadata: {}, trace: {} };
}

type Ctx = AssistantContext;
type Fx = {
  think: (c: Ctx, signal: AbortSignal) => Promise<AssistantEvent>;
  act?: (c: Ctx) => Promise<AssistantEvent>;
  deliver?: (c: Ctx) => Promise<AssistantEvent>;
};

/** Effects like the host's: the given model, and a publish that records what it delivered (typed against the machine: no casts). */
function effects(fx: Fx, delivered: string[] = []): EffectsOf<typeof assistantMachine> {
  return {
    think: fx.think,
    act: fx.act ?? (async () => ({ type: "tools.dispatched", immediate: [] })),
    cancel: async (c) => {
      cancelled.push(...(c.cancelling ?? []));
      return { type: "tools.cancelled" };
    },
    deliver:
      fx.deliver ??
      (async (c) => {
        delivered.push(c.reply ?? "");
        return { type: "reply.published", id: `${c.current!.envelope.id}:reply:0`, ts: 2 };
      }),
  };
}

/** calls the `cancel` effect was asked to stop */
const cancelled: string[] = [];

const replies =
  (f: (c: Ctx) => string) =>
  async (c: Ctx): Promise<AssistantEvent> => ({ type: "model.replied", text: f(c) });
const input = { agent: "echo", session: "tg:a:c", historyLimit: 4 };

/** A message for the actor, then its turn driven until it settles or suspends (as the session host does). */
async function turn(actor: Actor<typeof assistantMachine>, fx: EffectsOf<typeof assistantMachine>, id: string, text: string, attempt = 1) {
  actor.send({ type: "inbound.received", envelope: message(id, text), attempt });
  const state = await driveActor(actor, fx, new AbortController().signal);
  return { state, s: actor.getSnapshot() };
}

describe("assistant machine", () => {
  it("declares its effects on its states, as data", () => {
    const [idle] = initialTransition(assistantMachine, input);
    expect(effectOf(idle)).toBeUndefined();
    const [thinking] = transition(assistantMachine, idle, { type: "inbound.received", envelope: message("m1", "hi"), attempt: 1 });
    expect(thinking.value).toBe("thinking");
    expect(effectOf(thinking)).toBe("think");
    const [acting] = transition(assistantMachine, thinking, { type: "model.called", calls: [{ id: "m1:tool:0:0", name: "time.now", arguments: "{}" }] });
    expect(acting.value).toEqual({ acting: "dispatching" });
    expect(effectOf(acting)).toBe("act");
    const [waiting] = transition(assistantMachine, acting, { type: "tools.dispatched", immediate: [] });
    expect(waiting.hasTag("suspended")).toBe(true);
    expect(effectOf(waiting)).toBeUndefined();
  });

  it("goes idle → thinking → replying → idle and records the turn", async () => {
    const delivered: string[] = [];
    const states: string[] = [];
    const actor = createActor(assistantMachine, { input });
    actor.subscribe((s) => states.push(JSON.stringify(s.value)));
    actor.start();
    const { state, s } = await turn(actor, effects({ think: replies((c) => c.current!.envelope.text!.toUpperCase()) }, delivered), "m1", "hi");
    expect(state).toBe("settled");
    expect(states).toEqual(['"idle"', '"thinking"', '"replying"', '"idle"']);
    expect(delivered).toEqual(["HI"]);
    expect(s.context.history.map((t) => [t.role, t.text])).toEqual([
      ["user", "hi"],
      ["assistant", "HI"],
    ]);
    expect(s.context.turns).toBe(1);
    expect(s.context.current).toBeUndefined();
  });

  it("keeps only the last historyLimit entries", async () => {
    const actor = createActor(assistantMachine, { input }).start();
    const fx = effects({ think: replies((c) => c.current!.envelope.text!) });
    for (let n = 1; n <= 3; n++) await turn(actor, fx, `m${n}`, `t${n}`);
    const ctx = actor.getSnapshot().context;
    expect(ctx.history.map((t) => t.text)).toEqual(["t2", "t2", "t3", "t3"]);
    expect(ctx.turns).toBe(3);
  });

  it("absorbs a redelivery of the last answered message", async () => {
    const delivered: string[] = [];
    const actor = createActor(assistantMachine, { input }).start();
    const fx = effects({ think: replies(() => "ok") }, delivered);
    await turn(actor, fx, "m1", "x");
    expect((await turn(actor, fx, "m1", "x", 2)).s.value).toBe("idle");
    expect(delivered).toHaveLength(1);
  });

  it("absorbs a redelivery after the actor is restored from its persisted snapshot, and goes on from the restored history", async () => {
    const delivered: string[] = [];
    const fx = effects({ think: replies((c) => `${c.history.length} before`) }, delivered);
    const first = createActor(assistantMachine, { input }).start();
    await turn(first, fx, "m1", "x");
    const persisted = first.getPersistedSnapshot();
    first.stop();
    // another node (or the same after passivation) takes the session over from KV
    const again = createActor(assistantMachine, { input, snapshot: JSON.parse(JSON.stringify(persisted)) }).start();
    expect((await turn(again, fx, "m1", "x", 2)).s.value).toBe("idle");
    expect(delivered).toEqual(["0 before"]);
    await turn(again, fx, "m2", "y");
    expect(delivered).toEqual(["0 before", "2 before"]);
    expect(again.getSnapshot().context.lastTurnId).toBe("m2");
  });

  it("returns to idle with the failure when the reply cannot be published, remembering nothing of the turn", async () => {
    const actor = createActor(assistantMachine, { input }).start();
    const failure = { turnId: "m1", code: "unavailable", message: "nats: no responders", transient: true };
    const { s } = await turn(actor, effects({ think: replies(() => "ok"), deliver: async () => ({ type: "reply.failed", failure }) }), "m1", "x");
    expect(s.value).toBe("idle");
    expect(s.context.failure).toEqual(failure);
    // not answered: the redelivery runs the turn again
    expect(s.context.lastTurnId).toBeUndefined();
    expect(s.context.history).toEqual([]);
  });

  it("classifies what an effect threw: its code and transience where it says, else transient", () => {
    expect(toFailure("m1", new Error("socket hang up"))).toEqual({ turnId: "m1", code: "error", message: "socket hang up", transient: true });
    expect(toFailure("m2", Object.assign(new Error("no such skill"), { code: "no_skill", transient: false }))).toEqual({
      turnId: "m2",
      code: "no_skill",
      message: "no such skill",
      transient: false,
    });
    expect(toFailure("m3", "a string")).toEqual({ turnId: "m3", code: "error", message: "a string", transient: true });
  });

  it("records a failure with its classification and returns to idle", async () => {
    const actor = createActor(assistantMachine, { input }).start();
    const failure = { turnId: "m1", code: "scripted_fail", message: "boom", transient: false };
    const { s } = await turn(actor, effects({ think: async () => ({ type: "model.failed", failure }) }), "m1", "x");
    expect(s.value).toBe("idle");
    expect(s.context.failure).toEqual(failure);
    expect(s.context.history).toEqual([]);
    expect(s.context.lastTurnId).toBeUndefined();
  });

  it("calls tools, suspends until every result is in, and answers with them", async () => {
    const actor = createActor(assistantMachine, { input }).start();
    const calls: ToolCall[] = [
      { id: "m1:tool:0:0", name: "time.now", arguments: "{}" },
      { id: "m1:tool:0:1", name: "echo", arguments: '{"text":"x"}' },
    ];
    const fx = effects({
      think: async (c) =>
        c.current!.steps.some((s) => s.kind === "result")
          ? { type: "model.replied", text: c.current!.steps.flatMap((s) => (s.kind === "result" ? [`${s.name}=${s.content}`] : [])).join(" ") }
          : { type: "model.called", calls },
    });
    const { state } = await turn(actor, fx, "m1", "what time is it?");
    expect(state).toBe("suspended");
    expect(actor.getSnapshot().context.current?.calls.map((c) => c.id)).toEqual(["m1:tool:0:0", "m1:tool:0:1"]);
    // a result nobody waits for changes nothing
    expect(actor.getSnapshot().can({ type: "tool.result", callId: "other", ok: true, content: "1" })).toBe(false);

    // persisted while suspended, resumed elsewhere from the snapshot
    const persisted = JSON.parse(JSON.stringify(actor.getPersistedSnapshot()));
    actor.stop();
    const b = createActor(assistantMachine, { input, snapshot: persisted }).start();
    b.send({ type: "tool.result", callId: "m1:tool:0:1", ok: true, content: '{"text":"x"}' });
    expect(await driveActor(b, fx, new AbortController().signal)).toBe("suspended");
    b.send({ type: "tool.result", callId: "m1:tool:0:0", ok: true, content: "12:00" });
    expect(await driveActor(b, fx, new AbortController().signal)).toBe("settled");
    const ctx = b.getSnapshot().context;
    expect(ctx.lastTurnId).toBe("m1");
    expect(ctx.history.map((t) => t.text)).toEqual(["what time is it?", 'echo={"text":"x"} time.now=12:00']);
  });

  it("times out the calls still pending at their deadline, and goes on without them", async () => {
    const actor = createActor(assistantMachine, { input }).start();
    const fx = effects({
      think: async (c) =>
        c.current!.round === 0
          ? { type: "model.called", calls: [{ id: "m1:tool:0:0", name: "slow", arguments: "{}" }] }
          : { type: "model.replied", text: (c.current!.steps.at(-1) as { content: string }).content },
    });
    await turn(actor, fx, "m1", "x");
    actor.send({ type: "tool.deadline", callIds: ["m1:tool:0:0"] });
    expect(await driveActor(actor, fx, new AbortController().signal)).toBe("settled");
    expect(actor.getSnapshot().context.history.at(-1)?.text).toMatch(/^error \(timeout\)/);
    // a late result after the turn is over is no longer for anybody
    expect(actor.getSnapshot().can({ type: "tool.result", callId: "m1:tool:0:0", ok: true, content: "late" })).toBe(false);
  });

  it("lets a new message interrupt a turn that waits for tools, keeping the question in the history", async () => {
    const actor = createActor(assistantMachine, { input: { ...input, historyLimit: 10 } }).start();
    const fx = effects({
      think: async (c) =>
        c.current!.envelope.id === "m1"
          ? { type: "model.called", calls: [{ id: "m1:tool:0:0", name: "slow", arguments: "{}" }] }
          : { type: "model.replied", text: "second" },
    });
    await turn(actor, fx, "m1", "first");
    actor.send({ type: "inbound.interrupt", envelope: message("m2", "never mind"), attempt: 1 });
    expect(await driveActor(actor, fx, new AbortController().signal)).toBe("settled");
    const ctx = actor.getSnapshot().context;
    expect(ctx.history.map((t) => t.text)).toEqual(["first", "(interrupted by the next message before its tools answered)", "never mind", "second"]);
    expect(ctx.lastTurnId).toBe("m2");
    expect(cancelled).toContain("m1:tool:0:0");
    expect(ctx.cancelling).toBeUndefined();
  });

  it("goes straight back to the model when every call was answered at once", async () => {
    const actor = createActor(assistantMachine, { input }).start();
    const fx = effects({
      think: async (c) =>
        c.current!.round === 0
          ? { type: "model.called", calls: [{ id: "m1:tool:0:0", name: "nope", arguments: "{}" }] }
          : { type: "model.replied", text: "done" },
      act: async (c) => ({ type: "tools.dispatched", immediate: c.current!.calls.map((x) => ({ callId: x.id, ok: false, content: "error (unknown_tool)" })) }),
    });
    expect((await turn(actor, fx, "m1", "x")).state).toBe("settled");
    expect(actor.getSnapshot().context.history.at(-1)?.text).toBe("done");
  });

  it("stops driving at the deadline, aborting the model, and leaves the actor mid-turn for the host to drop", async () => {
    const actor = createActor(assistantMachine, { input }).start();
    const deadline = new AbortController();
    let modelAborted = false;
    const fx = effects({
      think: (_c, signal) => new Promise((_, reject) => signal.addEventListener("abort", () => ((modelAborted = true), reject(new Error("cancelled"))))),
    });
    actor.send({ type: "inbound.received", envelope: message("m1", "x"), attempt: 1 });
    setTimeout(() => deadline.abort(new Error("turn timeout")), 10);
    await expect(driveActor(actor, fx, deadline.signal)).rejects.toThrow("turn timeout");
    expect(modelAborted).toBe(true);
    expect(actor.getSnapshot().value).toBe("thinking");
  });

  it("names the transcript entry of every remembered turn, and forgets them all after a turn without one", async () => {
    const actor = createActor(assistantMachine, { input }).start(); // historyLimit 4: two turns
    let seq = 0;
    const think = replies(() => "ok");
    const withSeq = effects({
      think,
      deliver: async (c) => ({ type: "reply.published", id: `${c.current!.envelope.id}:r`, ts: 2, transcriptSeq: ++seq * 10 }),
    });
    for (let n = 1; n <= 3; n++) await turn(actor, withSeq, `m${n}`, `t${n}`);
    let ctx = actor.getSnapshot().context;
    expect(ctx.historyRefs).toEqual([20, 30]);
    expect(ctx.history.map((t) => t.text)).toEqual(["t2", "ok", "t3", "ok"]);
    expect(historyInTranscripts(ctx)).toBe(true);
    await turn(actor, effects({ think, deliver: async (c) => ({ type: "reply.published", id: `${c.current!.envelope.id}:r`, ts: 2 }) }), "m4", "t4");
    ctx = actor.getSnapshot().context;
    expect(ctx.historyRefs).toBeUndefined();
    expect(historyInTranscripts(ctx)).toBe(false);
    await turn(actor, withSeq, "m5", "t5");
    // one ref for two turns in the window: the history must stay in the snapshot
    expect(actor.getSnapshot().context.historyRefs).toEqual([40]);
    expect(historyInTranscripts(actor.getSnapshot().context)).toBe(false);
  });
});

describe("media a turn's tools returned", () => {
  const result = (content: string, ok = true) => ({ kind: "result" as const, callId: "c", name: "t", ok, content });
  it("goes with the reply: entries with a URL that fit the envelope's shape, from successful results only", () => {
    const steps = [
      { kind: "calls" as const, calls: [] },
      result(
        JSON.stringify({
          text: "x",
          media: [{ type: "image", url: "https://e.com/a.png", name: "a" }, { type: "image" }, { type: "hologram", url: "https://e.com/h" }],
        }),
      ),
      result(JSON.stringify({ media: [{ type: "file", url: "https://e.com/b.pdf" }] }), false),
      result('not json, but "media"'),
      result(JSON.stringify({ media: "https://e.com/c.png" })),
      result(JSON.stringify({ media: [{ type: "audio", url: "https://e.com/d.ogg", mime: "audio/ogg" }] })),
    ];
    expect(mediaOfSteps(steps)).toEqual([
      { type: "image", url: "https://e.com/a.png", name: "a" },
      { type: "audio", url: "https://e.com/d.ogg", mime: "audio/ogg" },
    ]);
    expect(mediaOfSteps([])).toEqual([]);
    expect(
      mediaOfSteps([result(JSON.stringify({ media: Array.from({ length: 40 }, (_, i) => ({ type: "image", url: `https://e.com/${i}` })) }))]),
    ).toHaveLength(32);
  });
});
