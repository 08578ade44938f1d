import { describe, expect, it } from "vitest";
import { initialTransition, transition } from "xstate";
import { assistantMachine, mailEvent } from "../../src/actors/index.js";
import { relayMachine } from "../../src/actors/relay.machine.js";
import { decideMail, decideTurn } from "../../src/actors/turn-decision.js";
import type { Envelope } from "../../src/bus/index.js";

function message(id: string): Envelope {
  return { id, ts: 1, channel: "tg", account: "a", chat: "c", sender: { id: "u" }, kind: "message", text: id, media: [], metadata: {}, trace: {} };
}

const input = { agent: "echo", session: "tg:a:c", historyLimit: 10 };

/** An assistant whose turn `m1` waits for the tool call `m1:tool:0:0`. */
function suspended() {
  const [idle] = initialTransition(assistantMachine, input);
  const [thinking] = transition(assistantMachine, idle, { type: "inbound.received", envelope: message("m1"), attempt: 1 });
  const [acting] = transition(assistantMachine, thinking, { type: "model.called", calls: [{ id: "m1:tool:0:0", name: "slow", arguments: "{}" }] });
  return transition(assistantMachine, acting, { type: "tools.dispatched", immediate: [] })[0];
}

describe("what a request sends its session", () => {
  it("starts a turn for a user message, whatever the session's kind", () => {
    for (const machine of [assistantMachine, relayMachine]) {
      const [idle] = initialTransition(machine, input);
      expect(decideTurn(idle, message("m1"), 2)).toEqual({
        kind: "send",
        event: { type: "inbound.received", envelope: message("m1"), attempt: 2 },
        turn: message("m1"),
        resumes: false,
      });
    }
  });

  it("absorbs a message the session answered last", () => {
    const [idle] = initialTransition(relayMachine, input);
    const [relaying] = transition(relayMachine, idle, { type: "inbound.received", envelope: message("m1"), attempt: 1 });
    const [done] = transition(relayMachine, relaying, { type: "turn.relayed", to: "echo" });
    expect(decideTurn(done, message("m1"), 2)).toEqual({ kind: "answered" });
  });

  it("interrupts a suspended turn with the next message", () => {
    expect(decideTurn(suspended(), message("m2"), 1)).toMatchObject({ kind: "send", event: { type: "inbound.interrupt" }, turn: message("m2") });
  });

  it("resumes the suspended turn with the mail it waits for, and drops mail nobody waits for", () => {
    const s = suspended();
    const result = mailEvent({ type: "tool.result", callId: "m1:tool:0:0", skill: "slow", ok: true, output: { n: 1 }, durationMs: 1 });
    expect(decideMail(s, result)).toEqual({
      kind: "send",
      event: { type: "tool.result", callId: "m1:tool:0:0", ok: true, content: '{"n":1}' },
      turn: message("m1"),
      resumes: true,
    });
    expect(decideMail(s, mailEvent({ type: "tool.result", callId: "other", skill: "slow", ok: true, output: null, durationMs: 1 }))).toEqual({
      kind: "stale",
      why: "no turn waits for this tool.result",
    });
    const [idle] = initialTransition(assistantMachine, input);
    expect(decideMail(idle, mailEvent({ type: "tool.deadline", callIds: ["m1:tool:0:0"], notBefore: 0 }))).toEqual({
      kind: "stale",
      why: "no turn waits for this tool.deadline",
    });
  });

  it("drops mail for a kind that waits for none", () => {
    const [idle] = initialTransition(relayMachine, input);
    const [relaying] = transition(relayMachine, idle, { type: "inbound.received", envelope: message("m1"), attempt: 1 });
    expect(decideMail(relaying, mailEvent({ type: "tool.result", callId: "m1:tool:0:0", skill: "slow", ok: true, output: 1, durationMs: 1 }))).toMatchObject({
      kind: "stale",
    });
  });
});
