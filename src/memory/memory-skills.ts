/**
 * `memory.write {text, tags?}` → `{id}`, `memory.search {query, limit?}` →
 * `{results}`, `memory.forget {id}` → `{forgotten}`: an agent's long-term
 * memory, as tools. Whose memory a call reads and writes is decided here from
 * what the model cannot forge — the calling session's mailbox (the agent) and
 * the turn's address and sender, which the session put on the invocation —
 * and the agent's `memory.scope`. A call from outside a turn
 * (`POST /v1/skills/memory.search/invoke`) has no one to remember for and is
 * refused.
 */
import { parseSessionSubject, type SkillInvocation } from "../bus/index.js";
import { SkillFailure, type BuiltinSkill } from "../skills/index.js";
import type { Embed } from "./embeddings.js";
import { MEMORY_ID, MAX_MEMORY_TEXT, type MemoryStore } from "./store.js";
import { MemorySettingsSchema, scopeOf, type MemoryScope, type MemorySettings } from "./scope.js";

/** What the memory skills need of the node. */
export interface MemoryDeps {
  store: MemoryStore;
  /** an agent's `memory` settings (defaults when it has none), undefined when no agent has that id */
  settings(agent: string): MemorySettings | undefined;
  embed?: Embed;
}

/** The agent and scope of a call, from its mailbox and the turn's address. */
function callerOf(deps: MemoryDeps, inv: SkillInvocation): { agent: string; scope: MemoryScope; settings: MemorySettings } {
  const mailbox = parseSessionSubject(inv.replyTo);
  if (!mailbox || !inv.address) throw new SkillFailure("denied", "memory belongs to an agent's conversations: it is used in an agent's turn");
  const settings = deps.settings(mailbox.agent);
  if (!settings) throw new SkillFailure("no_agent", `no agent named ${mailbox.agent}`);
  return { agent: mailbox.agent, settings, scope: scopeOf(settings.scope, { ...inv.address, sender: inv.sender }) };
}

/** The vector of `text` when the agent ranks with embeddings. */
export async function vectorFor(deps: Pick<MemoryDeps, "embed">, s: MemorySettings, text: string, signal?: AbortSignal) {
  return s.embeddings && deps.embed ? deps.embed(s.embeddings, s.embeddingsModel, text, signal) : undefined;
}

const builtin = (d: { id: string; description: string; input: Record<string, unknown>; output: Record<string, unknown> }): BuiltinSkill["descriptor"] => ({
  ...d,
  version: "1.0.0",
  runtime: "builtin",
  limits: { timeoutMs: 30_000 },
  // written under the call's id: a call run again writes once
  idempotent: true,
});

/** The memory skills over `deps`. */
export function memorySkills(deps: MemoryDeps): BuiltinSkill[] {
  return [
    {
      descriptor: builtin({
        id: "memory.write",
        description: "Remembers a fact for later conversations with this user (a preference, a name, a decision). Keep it short and self-contained.",
        input: {
          type: "object",
          properties: {
            text: { type: "string", minLength: 1, maxLength: MAX_MEMORY_TEXT, description: "what to remember" },
            tags: { type: "array", items: { type: "string", maxLength: 64 }, maxItems: 16 },
          },
          required: ["text"],
          additionalProperties: false,
        },
        output: { type: "object", required: ["id"], properties: { id: { type: "string" } } },
      }),
      async run(input, ctx) {
        const { text, tags } = input as { text: string; tags?: string[] };
        const { agent, scope, settings } = callerOf(deps, ctx.invocation);
        const vector = await vectorFor(deps, settings, text, ctx.signal);
        return deps.store.write(agent, scope, { text, tags, vector, key: `${ctx.invocation.replyTo}\u0000${ctx.invocation.id}` });
      },
    },
    {
      descriptor: builtin({
        id: "memory.search",
        description: "Searches what was remembered in earlier conversations with this user. Answers the best matches first.",
        input: {
          type: "object",
          properties: {
            query: { type: "string", minLength: 1, maxLength: 2000, description: "words or a question" },
            limit: { type: "integer", minimum: 1, maximum: 50, default: 5 },
          },
          required: ["query"],
          additionalProperties: false,
        },
        output: { type: "object", required: ["results"], properties: { results: { type: "array" } } },
      }),
      async run(input, ctx) {
        const { query, limit } = input as { query: string; limit?: number };
        const { agent, scope, settings } = callerOf(deps, ctx.invocation);
        const vector = await vectorFor(deps, settings, query, ctx.signal);
        return { results: await deps.store.search(agent, scope, query, { limit: limit ?? 5, vector }) };
      },
    },
    {
      descriptor: builtin({
        id: "memory.forget",
        description: "Forgets a remembered fact by its id (from memory.search).",
        input: {
          type: "object",
          properties: { id: { type: "string", pattern: MEMORY_ID.source } },
          required: ["id"],
          additionalProperties: false,
        },
        output: { type: "object", required: ["forgotten"], properties: { forgotten: { type: "boolean" } } },
      }),
      async run(input, ctx) {
        const { id } = input as { id: string };
        const { agent, scope } = callerOf(deps, ctx.invocation);
        // only this scope's: an id from another user's memory is as good as none
        return { forgotten: await deps.store.forget(agent, id, scope) };
      },
    },
  ];
}

/** An agent's `memory` settings with their defaults, for an agent that names none. */
export const DEFAULT_MEMORY_SETTINGS: MemorySettings = MemorySettingsSchema.parse({});
