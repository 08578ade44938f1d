import { describe, expect, it } from "vitest";
import { initialTransition, transition } from "xstate";
import { agentKind, effectOf, SUSPENDED_TAG } from "../../src/actors/index.js";
import { relayMachine } from "../../src/actors/relay.machine.js";
import type { Envelope } from "../../src/bus/index.js";

function message(id: string, text: string): Envelope {
  return { id, ts: 1, channel: "desk", account: "a", chat: "c", sender: { id: "u" }, kind: "message", text, media: [], metadata: {}, trace: {} };
}

const input = { agent: "front", session: "desk:a:c", historyLimit: 20 };
const failure = { turnId: "m1", code: "no_agent", message: "agent front relays to ghost, which is not registered", transient: false };

describe("relay machine", () => {
  it("is a registered agent kind, with the options it reads", () => {
    const kind = agentKind("relay");
    expect(kind?.machine).toBe(relayMachine);
    expect(kind?.options?.safeParse({ to: "echo" }).success).toBe(true);
    expect(kind?.options?.safeParse({}).success).toBe(false);
  });

  it("hands a message on from a state that declares the effect, and remembers it once handed on", () => {
    const [idle] = initialTransition(relayMachine, input);
    expect(idle.value).toBe("idle");
    expect(effectOf(idle)).toBeUndefined();
    const [relaying, actions] = transition(relayMachine, idle, { type: "inbound.received", envelope: message("m1", "hi"), attempt: 1 });
    expect(relaying.value).toBe("relaying");
    expect(effectOf(relaying)).toBe("relay");
    // the effect is the host's to perform: the machine runs nothing itself
    expect(actions).toEqual([]);
    expect(relaying.context.current?.envelope.id).toBe("m1");
    const [done] = transition(relayMachine, relaying, { type: "turn.relayed", to: "echo" });
    expect(done.value).toBe("idle");
    expect(done.context).toMatchObject({ lastTurnId: "m1", lastTo: "echo", relayed: 1, current: undefined });
  });

  it("absorbs a redelivery of the message it handed on last", () => {
    const [idle] = initialTransition(relayMachine, input);
    const [relaying] = transition(relayMachine, idle, { type: "inbound.received", envelope: message("m1", "hi"), attempt: 1 });
    const [done] = transition(relayMachine, relaying, { type: "turn.relayed", to: "echo" });
    const [again] = transition(relayMachine, done, { type: "inbound.received", envelope: message("m1", "hi"), attempt: 2 });
    expect(again.value).toBe("idle");
    expect(again.context.relayed).toBe(1);
    const [next] = transition(relayMachine, done, { type: "inbound.received", envelope: message("m2", "more"), attempt: 1 });
    expect(next.value).toBe("relaying");
  });

  it("records a failure and returns to idle without remembering the message, so the host retries or dead-letters it", () => {
    const [idle] = initialTransition(relayMachine, input);
    const [relaying] = transition(relayMachine, idle, { type: "inbound.received", envelope: message("m1", "hi"), attempt: 1 });
    const [failed] = transition(relayMachine, relaying, { type: "relay.failed", failure });
    expect(failed.value).toBe("idle");
    expect(failed.context).toMatchObject({ failure, relayed: 0, current: undefined });
    expect(failed.context.lastTurnId).toBeUndefined();
    // the next try starts clean
    const [retried] = transition(relayMachine, failed, { type: "inbound.received", envelope: message("m1", "hi"), attempt: 2 });
    expect(retried.context.failure).toBeUndefined();
  });

  it("never suspends: no state waits for mail", () => {
    const [idle] = initialTransition(relayMachine, input);
    const [relaying] = transition(relayMachine, idle, { type: "inbound.received", envelope: message("m1", "hi"), attempt: 1 });
    expect([idle, relaying].some((s) => s.hasTag(SUSPENDED_TAG))).toBe(false);
  });
});
