/**
 * How `agents.ask` reaches the agent it asks: the way `POST
 * /v1/agents/{id}/invoke` does (gateway/inbound.ts) — a message on the
 * callee's own HTTP account (`claw.in.http.<agent>.<chat>`, which admits it
 * whatever its bindings), published durably under a message id derived from
 * the call, and its reply awaited on `claw.out…` (or read back from
 * `CLAW_OUT` when the publish was a duplicate: the call ran before, on a node
 * that died).
 *
 * The callee's chat is owned by the asking agent (`~agent:<id>~<caller
 * session>/<name>`): no HTTP caller can name it without `sessions:any`, as no
 * key's or token's owner is `agent:…` (http-session.ts).
 */
import { ASK_METADATA, HTTP_CHANNEL, type AgentSpec, type AskMetadata } from "../actors/index.js";
import type { Bus } from "../bus/index.js";
import { createInbound, HttpError, ownedChat } from "../gateway/index.js";
import { SkillFailure, type AgentAsk, type AgentAsker } from "../skills/index.js";

/** Options of {@link agentAsker}. */
export interface AgentAskerOptions {
  bus: Bus;
  nodeId: string;
  maxPayload: number;
  duplicateWindowMs: number;
  maxDepth: number;
  agent(id: string): AgentSpec | undefined;
}

/** The chat of an asked agent's child session, owned by the asking agent. */
export function askChat(a: Pick<AgentAsk, "caller" | "session">): string {
  return ownedChat(`agent:${a.caller.agent}`, a.session);
}

/** The node's way of asking agents. */
export function agentAsker(o: AgentAskerOptions): AgentAsker {
  const inbound = createInbound({ bus: o.bus, nodeId: o.nodeId, maxPayload: o.maxPayload, duplicateWindowMs: o.duplicateWindowMs });
  return {
    maxDepth: o.maxDepth,
    agent: (id) => o.agent(id),
    async ask(a) {
      const chat = askChat(a);
      const ask: AskMetadata = { by: a.caller.agent, session: a.caller.session, depth: a.depth };
      // the sender is the child session too: an agent with `scope: "sender"` keeps one session per child as well
      const input = { text: a.text, sender: { id: chat, name: a.caller.agent }, metadata: { agent: a.agent, [ASK_METADATA]: ask } };
      let reply;
      try {
        ({ reply } = await inbound.converse({ channel: HTTP_CHANNEL, account: a.agent, chat }, input, {
          idempotencyKey: a.messageId,
          timeoutMs: a.timeoutMs,
          traceparent: a.traceparent,
        }));
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        if (e.status === 504) throw new SkillFailure("timeout", `agent ${a.agent} did not answer in time`, { cause: e });
        if (e.status === 503) throw new SkillFailure("unavailable", e.message, { cause: e });
        // the session's name too long once made a subject token, a message too large: the model's input
        throw new SkillFailure("invalid_input", e.message, { cause: e });
      }
      if (reply.kind === "error") {
        const code = typeof reply.metadata["code"] === "string" && reply.metadata["code"] ? ` (${reply.metadata["code"]})` : "";
        throw new SkillFailure("agent_failed", `agent ${a.agent} failed${code}: ${reply.text || "no answer"}`);
      }
      return { text: reply.text ?? "" };
    },
  };
}
