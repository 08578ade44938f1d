/**
 * Tool approvals, the pure parts: how the assistant's turn waits for and takes
 * decisions (XState's `transition()`, no I/O), which calls an agent's
 * `approve` holds back, and how a chat command reads.
 */
import { describe, expect, it } from "vitest";
import { initialTransition, transition, type SnapshotFrom } from "xstate";
import { assistantMachine, effectOf, type AssistantEvent } from "../../src/actors/index.js";
import { AgentSpecSchema } from "../../src/actors/agents.js";
import { needsApproval } from "../../src/actors/assistant.effects.js";
import { parseApprovalCommand } from "../../src/approvals/index.js";
import type { Envelope } from "../../src/bus/index.js";
import { SkillDescriptorSchema } from "../../src/skills/descriptor.js";
import type { SkillCatalog } from "../../src/skills/index.js";

type Snap = SnapshotFrom<typeof assistantMachine>;
const message: Envelope = {
  id: "m1",
  ts: 1,
  channel: "tg",
  account: "a",
  chat: "c",
  sender: { id: "u" },
  kind: "message",
  text: "go",
  media: [],
  metadata: {},
  trace: {},
};
const input = { agent: "a", session: "tg:a:c", historyLimit: 4 };
const send = (s: Snap, e: AssistantEvent | { type: "inbound.interrupt"; envelope: Envelope; attempt: number }) => transition(assistantMachine, s, e)[0];

/** A turn that called `bash` (held back, approval ap1) and `time.now` (out at once). */
function approving(): Snap {
  let s = initialTransition(assistantMachine, input)[0];
  s = send(s, { type: "inbound.received", envelope: message, attempt: 1 });
  s = send(s, {
    type: "model.called",
    calls: [
      { id: "m1:tool:0:0", name: "bash", arguments: '{"cmd":"ls"}' },
      { id: "m1:tool:0:1", name: "time.now", arguments: "{}" },
    ],
  });
  return send(s, { type: "tools.dispatched", immediate: [], approvals: [{ id: "ap1", callId: "m1:tool:0:0" }] });
}
const decision = (approved: boolean, o: { id?: string; callId?: string; reason?: string } = {}) =>
  ({ type: "approval.decided", id: o.id ?? "ap1", callId: o.callId ?? "m1:tool:0:0", approved, by: "alice", reason: o.reason }) as const;

describe("a turn waiting for approval", () => {
  it("suspends in acting.approving, and takes only the decision it waits for", () => {
    const s = approving();
    expect(s.value).toEqual({ acting: "approving" });
    expect(s.hasTag("suspended")).toBe(true);
    expect(s.context.current!.approvals).toEqual([{ id: "ap1", callId: "m1:tool:0:0" }]);
    // another approval's decision, or one naming another call, is not this turn's
    expect(s.can(decision(true, { id: "ap2" }))).toBe(false);
    expect(s.can(decision(true, { callId: "m1:tool:0:1" }))).toBe(false);
    expect(s.can(decision(true))).toBe(true);
  });

  it("releases an approved call (effect release), then waits for its result and the others'", () => {
    let s = send(approving(), decision(true));
    expect(s.value).toEqual({ acting: "releasing" });
    expect(effectOf(s)).toBe("release");
    expect(s.context.current!.release).toEqual(["m1:tool:0:0"]);
    s = send(s, { type: "tools.released" });
    expect(s.value).toEqual({ acting: "waiting" });
    expect(s.context.current!.release).toBeUndefined();
    s = send(s, { type: "tool.result", callId: "m1:tool:0:1", ok: true, content: "12:00" });
    s = send(s, { type: "tool.result", callId: "m1:tool:0:0", ok: true, content: "a b" });
    expect(s.value).toBe("thinking");
  });

  it("gives the model 'denied by <by>: <reason>' as a denied call's result", () => {
    let s = send(approving(), { type: "tool.result", callId: "m1:tool:0:1", ok: true, content: "12:00" });
    expect(s.value).toEqual({ acting: "approving" });
    s = send(s, decision(false, { reason: "not today" }));
    expect(s.value).toBe("thinking");
    expect(s.context.current!.steps.at(-1)).toEqual({ kind: "result", callId: "m1:tool:0:0", name: "bash", ok: false, content: "denied by alice: not today" });
  });

  it("waits for the other calls after a denial, and for the other approvals", () => {
    expect(send(approving(), decision(false)).value).toEqual({ acting: "waiting" });
    let s = initialTransition(assistantMachine, input)[0];
    s = send(s, { type: "inbound.received", envelope: message, attempt: 1 });
    s = send(s, {
      type: "model.called",
      calls: [
        { id: "c0", name: "bash", arguments: "{}" },
        { id: "c1", name: "bash", arguments: "{}" },
      ],
    });
    s = send(s, {
      type: "tools.dispatched",
      immediate: [],
      approvals: [
        { id: "ap1", callId: "c0" },
        { id: "ap2", callId: "c1" },
      ],
    });
    s = send(s, decision(false, { callId: "c0" }));
    expect(s.value).toEqual({ acting: "approving" });
    s = send(s, decision(true, { id: "ap2", callId: "c1" }));
    s = send(s, { type: "tools.released" });
    expect(s.value).toEqual({ acting: "waiting" });
  });

  it("withdraws its approvals and cancels its other calls when a message interrupts it", () => {
    const s = send(approving(), { type: "inbound.interrupt", envelope: { ...message, id: "m2" }, attempt: 1 });
    expect(s.value).toBe("cancelling");
    expect(s.context.withdrawing).toEqual(["ap1"]);
    expect(s.context.cancelling).toEqual(["m1:tool:0:1"]);
  });
});

const catalog = (versions: Record<string, string>): SkillCatalog => ({
  list: () => [],
  resolve: (id) => (versions[id] ? SkillDescriptorSchema.parse({ id, version: versions[id], description: "d", runtime: "builtin" }) : undefined),
});

describe("which calls wait for approval", () => {
  const agent = AgentSpecSchema.parse({ id: "a", skills: ["bash", "http.fetch", "time.now"], approve: ["bash", "http.fetch@^1"] });

  it("holds back the skills approve lists, within their range", () => {
    expect(needsApproval(agent, "bash", "*", catalog({ bash: "3.0.0" }))).toBe(true);
    expect(needsApproval(agent, "http.fetch", "*", catalog({ "http.fetch": "1.4.0" }))).toBe(true);
    expect(needsApproval(agent, "http.fetch", "*", catalog({ "http.fetch": "2.0.0" }))).toBe(false);
    expect(needsApproval(agent, "time.now", "*", catalog({ "time.now": "1.0.0" }))).toBe(false);
    // a version this node cannot tell: held back
    expect(needsApproval(agent, "http.fetch", "*", catalog({}))).toBe(true);
  });

  it("defaults: nothing held back, no approvers, an hour to decide; refuses what is not a skill ref", () => {
    expect(AgentSpecSchema.parse({ id: "b" })).toMatchObject({ approve: [], approvers: [], approvalTimeoutMs: 3_600_000 });
    expect(AgentSpecSchema.safeParse({ id: "b", approve: ["Bash!"] }).success).toBe(false);
    expect(AgentSpecSchema.safeParse({ id: "b", approvalTimeoutMs: 10 }).success).toBe(false);
  });
});

describe("approval commands in the chat", () => {
  it("reads /approve <id> and /deny <id> [reason]", () => {
    expect(parseApprovalCommand("/approve ap1")).toEqual({ approved: true, id: "ap1" });
    expect(parseApprovalCommand("  /deny ap1 not on a Friday ")).toEqual({ approved: false, id: "ap1", reason: "not on a Friday" });
    expect(parseApprovalCommand("/approve@claw_bot ap1")).toEqual({ approved: true, id: "ap1" });
    expect(parseApprovalCommand("/approve")).toEqual({ approved: true, id: "" });
    expect(parseApprovalCommand("please /approve ap1")).toBeUndefined();
    expect(parseApprovalCommand("/approved ap1")).toBeUndefined();
    expect(parseApprovalCommand(undefined)).toBeUndefined();
  });
});
