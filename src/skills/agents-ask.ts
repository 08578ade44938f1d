/**
 * `agents.ask {agent, text, session?}` → `{text}`: a turn of another agent,
 * its answer the tool's result. From the caller's side it is a skill like any
 * other — the turn publishes the call and suspends durably, the answer comes
 * back as mail — so it survives the loss of any node: the call is run again
 * from the work queue, and asks again with the same message id, which
 * JetStream's duplicate window absorbs into the first ask (whose reply is then
 * read back, or awaited).
 *
 * What the model may do with it is decided here, on what the caller cannot
 * forge (the mailbox the answer goes to, the depth its turn carries):
 * - only in an agent's turn (a call from `POST /v1/skills/agents.ask/invoke`
 *   has no session to answer and is refused);
 * - only agents of the asking agent's tenant (src/tenants), by the names that
 *   tenant gave them;
 * - only agents the asking agent lists in its `ask` (`"*"`: any; none when
 *   absent), refused `denied` before anything is said about whether they exist;
 * - not deeper than `CLAW_MAX_AGENT_DEPTH`: `depth_exceeded`;
 * - in a child session of the asking one: `<caller session>/<agent>` by
 *   default, `<caller session>/<session>` when the model names one — it can
 *   never reach another session of the callee, nor a user's conversation with it.
 */
import { createHash } from "node:crypto";
import { hopTraceparent, parseSessionSubject } from "../bus/index.js";
import { DEADLINE_MARGIN_MS, SkillFailure, type BuiltinSkill } from "./skill.js";

/** A name the model may give a child session (it becomes part of a NATS subject token). */
const SESSION_NAME = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$";
const AGENT_ID = "^[A-Za-z0-9_-]{1,64}$";

/** One ask, as the transport takes it. */
export interface AgentAsk {
  /** the asking agent and its session */
  caller: { agent: string; session: string };
  agent: string;
  text: string;
  /** the child session's name within the caller's: `<caller session>/<name>` */
  session: string;
  /** the callee's message id: derived from the call, the same on every run of it */
  messageId: string;
  /** the callee turn's depth (1 for a user's turn asking) */
  depth: number;
  traceparent?: string;
  /** ms to wait for the answer */
  timeoutMs: number;
}

/** What `agents.ask` needs of the node. */
export interface AgentAsker {
  /** `CLAW_MAX_AGENT_DEPTH` */
  maxDepth: number;
  /** an agent's `ask` list, or undefined when no agent has that id */
  agent(id: string): { ask: readonly string[] } | undefined;
  /** publishes the callee's message and waits for its reply; a failure is thrown as {@link SkillFailure} */
  ask(a: AgentAsk): Promise<{ text: string }>;
}

/** The message id of the callee's turn for call `callId` of mailbox `replyTo`: call ids are unique within a session only. */
export function askMessageId(replyTo: string, callId: string): string {
  return `ask-${createHash("sha256").update(`${replyTo}\u0000${callId}`).digest("hex").slice(0, 32)}`;
}

/** The `agents.ask` skill, over `asker`. */
export function agentsAskSkill(asker: AgentAsker): BuiltinSkill {
  return {
    descriptor: {
      id: "agents.ask",
      version: "1.0.0",
      runtime: "builtin",
      description:
        "Asks another agent and answers with its reply. It remembers earlier questions of this conversation " +
        "(one session per agent, or per `session` name you give).",
      input: {
        type: "object",
        properties: {
          agent: { type: "string", pattern: AGENT_ID, description: "the id of the agent to ask" },
          text: { type: "string", minLength: 1, maxLength: 100_000, description: "what to ask it" },
          session: { type: "string", pattern: SESSION_NAME, description: "a name for a separate conversation with it (default: one per agent)" },
        },
        required: ["agent", "text"],
        additionalProperties: false,
      },
      output: { type: "object", required: ["text"], properties: { text: { type: "string" } } },
      // the caller's toolTimeoutMs decides how long it waits
      limits: { timeoutMs: 3_600_000 },
      // asked again after a crash, it asks once: the callee's message id is the call's
      idempotent: true,
    },
    async run(input, ctx) {
      const { agent, text, session } = input as { agent: string; text: string; session?: string };
      const inv = ctx.invocation;
      const mailbox = parseSessionSubject(inv.replyTo);
      if (!mailbox) throw new SkillFailure("denied", "agents.ask answers only an agent's turn: it needs the asking session");
      const caller = { agent: mailbox.agent, session: mailbox.session };
      const allowed = asker.agent(caller.agent)?.ask ?? [];
      if (!allowed.includes("*") && !allowed.includes(agent))
        throw new SkillFailure("denied", `agent ${caller.agent} may not ask agent ${agent}: list it in ${caller.agent}'s "ask"`);
      const depth = inv.depth ?? 0;
      if (depth >= asker.maxDepth)
        throw new SkillFailure("depth_exceeded", `agents asking agents stop at depth ${asker.maxDepth} (CLAW_MAX_AGENT_DEPTH): this turn is at ${depth}`);
      // a tenant's agent (`<tenant>/<id>`) asks within its tenant: its `billing` is `<tenant>/billing`, and no other tenant's
      const slash = caller.agent.indexOf("/");
      const target = slash === -1 ? agent : `${caller.agent.slice(0, slash + 1)}${agent}`;
      if (!asker.agent(target)) throw new SkillFailure("no_agent", `no agent named ${agent}`);
      const traceparent = inv.trace.traceparent ? hopTraceparent(inv.trace.traceparent, inv.id, "ask") : undefined;
      return asker.ask({
        caller,
        agent: target,
        text,
        session: `${caller.session}/${session ?? agent}`,
        messageId: askMessageId(inv.replyTo, inv.id),
        depth: depth + 1,
        traceparent,
        timeoutMs: Math.max(1, ctx.deadline - Date.now() - DEADLINE_MARGIN_MS),
      });
    },
  };
}
