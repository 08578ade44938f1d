/**
 * `agents.ask`'s rules, without a node: who may ask whom, how deep, which
 * session, what a message's own metadata can (not) change, and how `claw
 * inspect` shows a turn waiting on it. The whole way, with nodes:
 * test/integration/agents-ask.test.ts.
 */
import { describe, expect, it } from "vitest";
import { askDepthOf } from "../../src/actors/index.js";
import { sessionSubject, type SkillInvocation } from "../../src/bus/index.js";
import { waitsOf } from "../../src/cli/inspect.command.js";
import { agentsAskSkill, askMessageId, SkillFailure, type AgentAsk, type AgentAsker } from "../../src/skills/index.js";

const agents: Record<string, { ask: string[] }> = {
  a: { ask: ["b"] },
  b: { ask: [] },
  any: { ask: ["*"] },
  // a tenant's agents (stored as <tenant>/<id>)
  "acme/any": { ask: ["*"] },
  "acme/b": { ask: [] },
};

/** A fake transport that records what it was asked. */
function fakeAsker(maxDepth = 3) {
  const asked: AgentAsk[] = [];
  const asker: AgentAsker = { maxDepth, agent: (id) => agents[id], ask: async (a) => (asked.push(a), { text: `answer to ${a.text}` }) };
  return { asked, skill: agentsAskSkill(asker) };
}

const invocation = (caller: string, session: string, o: Partial<SkillInvocation> = {}): SkillInvocation => ({
  id: "m1:tool:0:0",
  skill: "agents.ask",
  input: {},
  replyTo: sessionSubject(3, caller, session),
  session: `${caller}.${session}`,
  deadline: Date.now() + 10_000,
  trace: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
  ...o,
});

const run = (skill: ReturnType<typeof fakeAsker>["skill"], input: unknown, inv: SkillInvocation) =>
  skill.run(input, { signal: new AbortController().signal, deadline: inv.deadline, invocation: inv });

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  const e = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(e).toBeInstanceOf(SkillFailure);
  return { code: (e as SkillFailure).code, message: (e as SkillFailure).message };
}

describe("agents.ask", () => {
  it("lets a tenant's agent ask only its own tenant's agents, by the names the tenant gave them", async () => {
    const { asked, skill } = fakeAsker();
    await run(skill, { agent: "b", text: "hi" }, invocation("acme/any", "s1"));
    expect(asked.map((a) => a.agent)).toEqual(["acme/b"]);
    // the operator's `a` is not acme's, even with "*"
    expect(await failure(run(skill, { agent: "a", text: "hi" }, invocation("acme/any", "s1")))).toMatchObject({ code: "no_agent" });
  });

  it("asks in a child session of the caller's, one depth deeper, on the caller's trace, under the call's own message id", async () => {
    const { asked, skill } = fakeAsker();
    const inv = invocation("a", "t:x:c1");
    expect(await run(skill, { agent: "b", text: "hi" }, inv)).toEqual({ text: "answer to hi" });
    await run(skill, { agent: "b", text: "again", session: "notes" }, { ...inv, id: "m2:tool:0:0", depth: 1 });
    expect(asked.map((a) => [a.caller, a.agent, a.session, a.depth])).toEqual([
      [{ agent: "a", session: "t:x:c1" }, "b", "t:x:c1/b", 1],
      [{ agent: "a", session: "t:x:c1" }, "b", "t:x:c1/notes", 2],
    ]);
    expect(asked[0]!.traceparent?.split("-")[1]).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(asked[0]!.traceparent).not.toBe(inv.trace.traceparent);
    // the same call of the same session: the same id, whichever node runs it; any other call or session: another
    expect(asked[0]!.messageId).toBe(askMessageId(inv.replyTo, inv.id));
    expect(askMessageId(inv.replyTo, inv.id)).toMatch(/^ask-[0-9a-f]{32}$/);
    expect(askMessageId(sessionSubject(3, "a", "t:x:c2"), inv.id)).not.toBe(asked[0]!.messageId);
  });

  it("refuses agents the caller does not list, before saying whether they exist; an unknown one when it lists all", async () => {
    const { asked, skill } = fakeAsker();
    expect(await failure(run(skill, { agent: "c", text: "hi" }, invocation("a", "s")))).toEqual({
      code: "denied",
      message: `agent a may not ask agent c: list it in a's "ask"`,
    });
    expect((await failure(run(skill, { agent: "nobody", text: "hi" }, invocation("a", "s")))).code).toBe("denied");
    expect((await failure(run(skill, { agent: "a", text: "hi" }, invocation("b", "s")))).code).toBe("denied");
    expect((await failure(run(skill, { agent: "b", text: "hi" }, invocation("gone", "s")))).code).toBe("denied");
    expect(await failure(run(skill, { agent: "nobody", text: "hi" }, invocation("any", "s")))).toEqual({ code: "no_agent", message: "no agent named nobody" });
    // not from an agent's turn: no mailbox to answer, no caller to check
    expect((await failure(run(skill, { agent: "b", text: "hi" }, invocation("a", "s", { replyTo: "claw.skill-result.x" })))).code).toBe("denied");
    expect(asked).toEqual([]);
  });

  it("answers depth_exceeded at CLAW_MAX_AGENT_DEPTH", async () => {
    const { asked, skill } = fakeAsker(2);
    await run(skill, { agent: "b", text: "hi" }, invocation("a", "s", { depth: 1 }));
    expect(await failure(run(skill, { agent: "b", text: "hi" }, invocation("a", "s", { depth: 2 })))).toEqual({
      code: "depth_exceeded",
      message: "agents asking agents stop at depth 2 (CLAW_MAX_AGENT_DEPTH): this turn is at 2",
    });
    expect(asked.map((a) => a.depth)).toEqual([2]);
    expect((await failure(run(fakeAsker(0).skill, { agent: "b", text: "hi" }, invocation("a", "s")))).code).toBe("depth_exceeded");
  });

  it("reads a message's depth strictly: a sender can only make its chain end sooner", () => {
    const ask = (v: unknown) => askDepthOf({ metadata: { ask: v } });
    expect(askDepthOf({ metadata: {} })).toBe(0);
    expect(ask({ by: "a", session: "s", depth: 2 })).toBe(2);
    for (const bad of [
      { by: "a", session: "s", depth: -5 },
      { by: "a", session: "s", depth: 0 },
      { depth: 2 },
      { by: "a", session: "s", depth: 1.5 },
      "2",
      null,
    ])
      expect(ask(bad)).toBe(0);
  });

  it("says whom a suspended turn asks in claw inspect", () => {
    const current = {
      envelope: {} as never,
      attempt: 1,
      round: 1,
      steps: [],
      calls: [
        { id: "m1:tool:0:0", name: "agents.ask", arguments: JSON.stringify({ agent: "billing", text: "what do I owe?", session: "q3" }) },
        { id: "m1:tool:0:1", name: "time.sleep", arguments: '{"ms":5}' },
        { id: "m1:tool:0:2", name: "agents.ask", arguments: "{not json" },
      ],
    };
    expect(waitsOf(current)).toEqual([
      'agents.ask: asks agent billing in its session q3: "what do I owe?" (call m1:tool:0:0)',
      'time.sleep {"ms":5} (call m1:tool:0:1)',
      "agents.ask {not json (call m1:tool:0:2)",
    ]);
    expect(waitsOf(undefined)).toEqual([]);
  });
});
