/**
 * The assistant's effects, performed by the session host's driver for the
 * states that declare them: `think` (ask the model, with the turn's tool
 * steps and the tools the agent may call), `act` (publish each tool call as a
 * skill invocation, durably, and a reminder of their deadline into the
 * session's own mailbox), `deliver` (publish the reply and the transcript
 * entry). Every publish carries a `Nats-Msg-Id` derived from the inbound
 * message id, so a turn run again publishes nothing twice.
 */
// one function of semver, not its index (which loads every module of the package)
import satisfies from "semver/functions/satisfies.js";
import {
  encode,
  ENVELOPE_VERSION,
  H,
  hopTraceparent,
  MAIL,
  MediaSchema,
  nativeRoutingOf,
  outboundSubject,
  publishDurable,
  sessionKey,
  sessionSubject,
  skillInvokeSubject,
  transcriptSubject,
  type Envelope,
  type SkillInvocation,
  type ToolDeadlineMail,
} from "../bus/index.js";
import { ModelError, type Model, type ModelRequest, type ToolCall, type ToolSpec, type TurnStep } from "../llm/index.js";
import type { SkillCatalog } from "../skills/index.js";
import { parseSkillRef, type AgentSpec } from "./agents.js";
import type { AgentDeps } from "./agent-deps.js";
import type { EffectsOf } from "../effect-driver.js";
import type { assistantMachine, AssistantContext, AssistantEvent, PendingApproval, ToolOutcome } from "./assistant.machine.js";
import { askDepthOf } from "./ask-metadata.js";
import { sessionPartition } from "./ingress.js";
import { historyWithin } from "./session-memory.js";
import type { TranscriptEntry } from "./session-store.js";
import { toFailure, turnTraceparent } from "./turn.js";

/** The skill id of a tool name the agent may call, and the version range it allows, if it may. */
function allowedSkill(agent: AgentSpec, name: string): { id: string; range: string } | undefined {
  return agent.skills.map(parseSkillRef).find((r) => r.id === name);
}

/** The agent's skills as model tools (those this node knows). */
export function toolsOf(agent: AgentSpec, skills: SkillCatalog): ToolSpec[] {
  return agent.skills.flatMap((ref) => {
    const { id, range } = parseSkillRef(ref);
    const s = skills.resolve(id, range);
    return s ? [{ name: s.id, description: s.description, parameters: s.input }] : [];
  });
}

/**
 * Media the turn's tools returned: a skill whose output holds `media`
 * (`[{ type, url, name?, mime? }]`, the envelope's shape) has it sent with the
 * reply — a chart a skill drew, a file it fetched. Entries that do not fit
 * the shape are left out; at most 32, as the envelope allows.
 */
export function mediaOfSteps(steps: readonly TurnStep[]): Envelope["media"] {
  const media: Envelope["media"] = [];
  for (const s of steps) {
    if (s.kind !== "result" || !s.ok || !s.content.includes('"media"')) continue;
    let output: unknown;
    try {
      output = JSON.parse(s.content);
    } catch {
      continue;
    }
    const list = (output as { media?: unknown } | null)?.media;
    if (!Array.isArray(list)) continue;
    for (const m of list) {
      const r = MediaSchema.safeParse(m);
      if (r.success && r.data.url) media.push(r.data);
    }
  }
  return media.slice(0, 32);
}

function replyEnvelope(c: AssistantContext): Envelope {
  const m = c.current!.envelope;
  return {
    v: ENVELOPE_VERSION,
    id: `${m.id}:reply:0`,
    ts: Date.now(),
    channel: m.channel,
    account: m.account,
    chat: m.chat,
    sender: { id: c.agent },
    kind: "reply",
    text: c.reply ?? "",
    media: mediaOfSteps(c.current!.steps),
    replyTo: m.id,
    metadata: { ...nativeRoutingOf(m), agent: c.agent, session: c.session, ...(c.usage ? { usage: c.usage } : {}) },
    // the reply carries its publish span, a child of the turn's span
    trace: m.trace.traceparent ? { traceparent: hopTraceparent(turnTraceparent(m), m.id, "reply") } : {},
  };
}

const SUMMARY_PROMPT =
  "Summarise the conversation below for your own memory: the facts, names, decisions and open questions a later turn will need. " +
  "Be brief (at most 200 words). Start from the earlier summary when there is one.";

/** The agent's current spec (a permanent failure when it was removed meanwhile). */
function agentOf(deps: AgentDeps, id: string): AgentSpec {
  const a = deps.agent(id);
  if (!a) throw new ModelError("no_agent", `agent ${id} is not registered`, false);
  return a;
}

/** A summary of what falls out of the agent's token budget, when it asks for one and the last one is out of date. */
async function summaryFor(c: AssistantContext, agent: AgentSpec, model: Model, dropped: number, signal: AbortSignal): Promise<AssistantContext["summary"]> {
  if (!agent.summarize || dropped === 0) return c.summary;
  const through = c.history[dropped - 1]!.id;
  if (c.summary?.through === through) return c.summary;
  // only what the earlier summary does not cover yet: it is sent beside them
  const from = c.summary ? c.history.findIndex((t) => t.id === c.summary!.through) + 1 : 0;
  const old = c.history.slice(from, dropped);
  const text = [c.summary ? `Earlier summary: ${c.summary.text}` : "", ...old.map((t) => `${t.role}: ${t.text}`)].filter(Boolean).join("\n");
  const m = c.current!.envelope;
  const res = await model.complete({
    agent: agent.id,
    session: c.session,
    system: SUMMARY_PROMPT,
    history: [],
    message: { ...m, id: `${m.id}:summary`, text },
    steps: [],
    tools: [],
    attempt: c.current!.attempt,
    signal,
  });
  return { text: res.text, through };
}

/** `think`: asks the model, with the turn's tool steps and the tools the agent may call. */
async function think(deps: AgentDeps, c: AssistantContext, signal: AbortSignal): Promise<AssistantEvent> {
  const cur = c.current!;
  try {
    const agent = agentOf(deps, c.agent);
    const model = deps.model(agent);
    const { kept, dropped } = historyWithin(c.history, agent.historyTokens);
    const summary = await summaryFor(c, agent, model, dropped, signal);
    const allowTools = cur.round < agent.maxToolRounds;
    const recalled = deps.recall ? await deps.recall(agent, cur.envelope, signal) : undefined;
    let seq = 0;
    const req: ModelRequest = {
      agent: agent.id,
      session: c.session,
      system: recalled ? [agent.system, recalled].filter(Boolean).join("\n\n") : agent.system,
      summary: summary?.text,
      history: kept,
      message: cur.envelope,
      steps: cur.steps,
      tools: allowTools ? toolsOf(agent, deps.skills) : [],
      attempt: cur.attempt,
      signal,
      onDelta: deps.delta ? (text) => deps.delta!(cur.envelope, cur.envelope.id, seq++, text) : undefined,
      traceparent: turnTraceparent(cur.envelope),
    };
    const res = await model.complete(req);
    const changed = summary !== c.summary ? summary : undefined;
    if (res.toolCalls && res.toolCalls.length > 0) {
      if (!allowTools) throw new ModelError("tool_rounds", `the model still called tools after ${agent.maxToolRounds} rounds (maxToolRounds)`, false);
      // Claw's own call ids: the same on a turn run again, whatever ids the provider makes up
      const calls: ToolCall[] = res.toolCalls.map((t, i) => ({ ...t, id: `${cur.envelope.id}:tool:${cur.round}:${i}` }));
      return { type: "model.called", calls, text: res.text || undefined, summary: changed, usage: res.usage };
    }
    return { type: "model.replied", text: res.text, summary: changed, usage: res.usage };
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    return { type: "model.failed", failure: toFailure(cur.envelope.id, e) };
  }
}

/** The skill invocation a tool call makes, or the outcome it has at once (an unknown tool, arguments that are not JSON). */
function invocationOf(agent: AgentSpec, call: ToolCall, at: Omit<SkillInvocation, "id" | "skill" | "version" | "input">): SkillInvocation | ToolOutcome {
  const ref = allowedSkill(agent, call.name);
  if (!ref) return { callId: call.id, ok: false, content: `error (unknown_tool): this agent has no tool named ${call.name}` };
  let input: unknown;
  try {
    input = call.arguments.trim() === "" ? {} : JSON.parse(call.arguments);
  } catch (e) {
    return { callId: call.id, ok: false, content: `error (invalid_arguments): the arguments are not JSON: ${(e as Error).message}` };
  }
  return { id: call.id, skill: ref.id, version: ref.range === "*" ? undefined : ref.range, input, ...at };
}

/** True when a call to `skill` (the version the agent's range resolves to) waits for a human's decision. */
export function needsApproval(agent: AgentSpec, skill: string, range: string, skills: SkillCatalog): boolean {
  const version = skills.resolve(skill, range)?.version;
  return (agent.approve ?? []).some((ref) => {
    const r = parseSkillRef(ref);
    // a version this node cannot tell is held back as well: the safe side
    return r.id === skill && (r.range === "*" || version === undefined || satisfies(version, r.range));
  });
}

/** What every call of a turn's round carries, and where it is published from. */
function callsContext(deps: AgentDeps, agent: AgentSpec, c: AssistantContext, deadline: number) {
  const cur = c.current!;
  const mailbox = sessionSubject(sessionPartition(agent, c.session, cur.envelope, deps.partitions), agent.id, c.session);
  const traceparent = turnTraceparent(cur.envelope);
  const headers: Record<string, string> = { [H.node]: deps.nodeId, ...(traceparent ? { [H.traceparent]: traceparent } : {}) };
  // an asked turn's calls carry its depth: an `agents.ask` among them is refused past CLAW_MAX_AGENT_DEPTH
  const depth = askDepthOf(cur.envelope);
  const address = { channel: cur.envelope.channel, account: cur.envelope.account, chat: cur.envelope.chat };
  const at = {
    replyTo: mailbox,
    session: sessionKey(agent.id, c.session),
    address,
    sender: cur.envelope.sender.id,
    deadline,
    trace: traceparent ? { traceparent } : {},
    ...(depth > 0 ? { depth } : {}),
  };
  return { mailbox, headers, at };
}

/** Publishes invocations side by side (each its own, its msg id the call's), then a reminder of their deadline into the session's mailbox. */
async function publishCalls(
  deps: AgentDeps,
  calls: SkillInvocation[],
  o: { mailbox: string; headers: Record<string, string>; deadline: number; reminderId: string },
): Promise<void> {
  await Promise.all(
    calls.map((inv) => publishDurable(deps.js, { subject: skillInvokeSubject(inv.skill), data: encode(inv), msgId: inv.id, headers: o.headers })),
  );
  if (calls.length === 0) return;
  // a reminder to itself: whatever has not answered by the deadline times out (a durable timer)
  const reminder: ToolDeadlineMail = { type: "tool.deadline", callIds: calls.map((i) => i.id), notBefore: o.deadline };
  await publishDurable(deps.js, { subject: o.mailbox, data: encode(reminder), msgId: o.reminderId, headers: { ...o.headers, [H.mail]: MAIL.toolDeadline } });
}

/**
 * `act`: publishes each tool call as a skill invocation, durably, and a reminder of their deadline into the
 * session's own mailbox; a call the agent's `approve` holds back is asked for approval instead.
 */
async function act(deps: AgentDeps, c: AssistantContext): Promise<AssistantEvent> {
  const cur = c.current!;
  try {
    const agent = agentOf(deps, c.agent);
    const immediate: ToolOutcome[] = [];
    const approvals: PendingApproval[] = [];
    const deadline = Date.now() + agent.toolTimeoutMs;
    const { mailbox, headers, at } = callsContext(deps, agent, c, deadline);
    const dispatched: SkillInvocation[] = [];
    for (const call of cur.calls) {
      const inv = invocationOf(agent, call, at);
      if ("callId" in inv) immediate.push(inv);
      else if (!needsApproval(agent, inv.skill, inv.version ?? "*", deps.skills)) dispatched.push(inv);
      else if (!deps.approvals) immediate.push({ callId: call.id, ok: false, content: "error (approvals_unavailable): this node cannot ask for approvals" });
      else {
        const { id } = await deps.approvals.request({
          agent: agent.id,
          session: c.session,
          skill: inv.skill,
          input: inv.input,
          callId: call.id,
          replyTo: mailbox,
          address: at.address,
          messageId: cur.envelope.id,
          timeoutMs: agent.approvalTimeoutMs,
        });
        approvals.push({ id, callId: call.id });
      }
    }
    await publishCalls(deps, dispatched, { mailbox, headers, deadline, reminderId: `${cur.envelope.id}:tool:${cur.round}:deadline` });
    return { type: "tools.dispatched", immediate, ...(approvals.length > 0 ? { approvals } : {}) };
  } catch (e) {
    return { type: "tools.failed", failure: toFailure(cur.envelope.id, e) };
  }
}

/** `release`: publishes the calls a human approved, each with a deadline of its own from now. */
async function release(deps: AgentDeps, c: AssistantContext): Promise<AssistantEvent> {
  const cur = c.current!;
  try {
    const agent = agentOf(deps, c.agent);
    const deadline = Date.now() + agent.toolTimeoutMs;
    const { mailbox, headers, at } = callsContext(deps, agent, c, deadline);
    const calls = cur.calls.filter((call) => cur.release?.includes(call.id));
    const invocations = calls.map((call) => invocationOf(agent, call, at)).filter((inv): inv is SkillInvocation => !("callId" in inv));
    await publishCalls(deps, invocations, { mailbox, headers, deadline, reminderId: `${calls.map((x) => x.id).join(",")}:released:deadline` });
    return { type: "tools.released" };
  } catch (e) {
    return { type: "tools.failed", failure: toFailure(cur.envelope.id, e) };
  }
}

/** `deliver`: publishes the reply and the transcript entry. */
async function deliver(deps: AgentDeps, c: AssistantContext): Promise<AssistantEvent> {
  const inbound = c.current!.envelope;
  try {
    const reply = replyEnvelope(c);
    const subject = outboundSubject(reply);
    const headers: Record<string, string> = { [H.node]: deps.nodeId };
    if (reply.trace.traceparent) headers[H.traceparent] = reply.trace.traceparent;
    const startMs = deps.tracing?.enabled ? Date.now() : 0;
    // msg ids derive from the inbound id: a redelivered turn cannot publish a second reply or transcript entry
    const entry: TranscriptEntry = { agent: c.agent, session: c.session, user: inbound, assistant: reply };
    const [, transcript] = await Promise.all([
      publishDurable(deps.js, { subject, data: encode(reply), msgId: reply.id, headers }),
      (deps.transcripts ?? true)
        ? publishDurable(deps.js, { subject: transcriptSubject(c.agent, c.session), data: encode(entry), msgId: `${inbound.id}:transcript`, headers })
        : undefined,
    ]);
    if (deps.tracing?.enabled && reply.trace.traceparent) {
      deps.tracing.record({
        name: "claw.out",
        kind: "producer",
        traceparent: reply.trace.traceparent,
        parent: turnTraceparent(inbound),
        startMs,
        endMs: Date.now(),
        attributes: { "messaging.system": "nats", "messaging.destination.name": subject, "messaging.message.id": reply.id, "claw.agent": c.agent },
      });
    }
    deps.failpoint?.("session.after-reply");
    // a redelivered turn's duplicate publish is acked with the sequence of the first one
    return { type: "reply.published", id: reply.id, ts: reply.ts, transcriptSeq: transcript?.seq };
  } catch (e) {
    return { type: "reply.failed", failure: toFailure(inbound.id, e) };
  }
}

/** The assistant's effects, by the names its states declare. */
export function assistantEffects(deps: AgentDeps): EffectsOf<typeof assistantMachine> {
  return {
    think: (c, signal) => think(deps, c, signal),
    act: (c) => act(deps, c),
    release: (c) => release(deps, c),
    deliver: (c) => deliver(deps, c),
    // best effort: a call that already finished, or whose worker is gone, has nothing to stop; its late result is ignored
    cancel: async (c) => {
      if (c.cancelling?.length) deps.cancelTools?.(c.cancelling);
      if (c.withdrawing?.length) await deps.approvals?.withdraw(c.withdrawing).catch(() => undefined);
      return { type: "tools.cancelled" };
    },
  };
}
