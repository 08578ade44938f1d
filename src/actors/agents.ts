/**
 * Agents and their bindings: what an agent may do (its model and fallbacks,
 * system prompt, the skills it may call, its memory budget) and which
 * messages it answers (agent-routing.ts decides among them). Both schemas
 * are strict: a field they do not know is refused, naming it — a typo must
 * not change what an agent does without a word.
 */
import { z } from "zod";
import { MemorySettingsSchema } from "../memory/index.js";
import { AgentHooksSchema } from "../skills/index.js";
import { TenantIdSchema } from "../tenants/index.js";

const pattern = z.string().min(1).default("*");

/**
 * One binding: a message matches when each given field equals the pattern
 * (`*` = any): channel, account, chat, the sender's id, and each listed
 * metadata key (its value as a string).
 */
export const BindingSchema = z
  .object({
    channel: pattern,
    account: pattern,
    chat: pattern,
    sender: pattern,
    metadata: z.record(z.string(), z.string()).default({}),
  })
  .strict();
export type Binding = z.infer<typeof BindingSchema>;

/** `"<skill id>"` or `"<skill id>@<semver range>"`. */
const SkillRefSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,127}(@[^@\s]{1,64})?$/, "a skill id (lowercase letters, digits, . _ -), optionally @<semver range>");

/**
 * An agent. `kind` names its state machine (agent-kinds.ts), `options` what
 * that kind reads besides the fields here; `model` a
 * provider configured on the nodes (or `scripted`, built in), `fallbacks` the
 * providers tried after it; `scope` decides what a session is: one per chat
 * (default, in the chat's own partition), or one per sender across chats.
 */
export const AgentSpecSchema = z
  .object({
    /** letters, digits, _ and -; a tenant's agent is stored as `<tenant>/<id>` (see {@link qualifyAgent}) */
    id: z
      .string()
      .min(1)
      .max(129)
      .regex(/^([a-z0-9][a-z0-9_-]{0,63}\/)?[A-Za-z0-9_-]{1,64}$/, "letters, digits, _ and - only"),
    /** the tenant the agent belongs to (src/tenants): only that tenant's credentials see and reach it; absent: the operator's */
    tenant: TenantIdSchema.optional(),
    kind: z.string().default("assistant"),
    model: z.string().min(1).default("scripted"),
    fallbacks: z.array(z.string().min(1)).default([]),
    system: z.string().max(100_000).optional(),
    skills: z.array(SkillRefSchema).default([]),
    /** tool rounds in one turn, at most; then the model must answer in text */
    maxToolRounds: z.number().int().min(0).max(64).default(8),
    /** how long a turn waits for a tool's result before it counts as timed out */
    toolTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
    /** a message that arrives while a turn waits for tools cancels them (default: it waits its turn) */
    interrupt: z.boolean().default(false),
    scope: z.enum(["chat", "sender"]).default("chat"),
    /** remembered history entries at most (a turn is two) */
    historyLimit: z.number().int().min(0).max(1000).default(20),
    /** the approximate tokens of history the model is sent; older turns are left out (or summarised) */
    historyTokens: z.number().int().min(50).max(2_000_000).default(8_000),
    /** summarise what falls out of `historyTokens` with a model call instead of forgetting it */
    summarize: z.boolean().default(false),
    bindings: z.array(BindingSchema).default([{ channel: "*", account: "*", chat: "*", sender: "*", metadata: {} }]),
    /**
     * the agents this one may ask with the `agents.ask` skill (`"*"`: any). None when absent: the model
     * picks whom to ask, and whoever writes to the agent can steer its model, so reaching another agent's
     * model budget, tools and memory takes its owner's word (docs/agents.md, "Agents that ask agents")
     */
    ask: z
      .array(z.string().regex(/^(\*|[A-Za-z0-9_-]{1,64})$/, "an agent id (letters, digits, _ and -) or *"))
      .max(256)
      .default([]),
    /**
     * long-term memory (`memory.*` skills, recall): whose memories a turn sees (`scope`), how many are recalled
     * into each model call, and the embeddings provider that ranks them by meaning (docs/memory.md)
     */
    memory: MemorySettingsSchema.optional(),
    /**
     * hook skills run around the agent's tool calls: `before` may change the input or deny the call, `after`
     * may change the output (docs/skills.md, "Hooks")
     */
    hooks: AgentHooksSchema.optional(),
    /**
     * skills (`"bash"`) or skills within a version range (`"http.fetch@^1"`) whose calls wait for a human's
     * approval (docs/approvals.md): the turn suspends until `POST /v1/approvals/{id}` or `/approve <id>` decides
     */
    approve: z.array(SkillRefSchema).max(256).default([]),
    /** the senders (their ids on the channel) who may decide from the chat with `/approve <id>` and `/deny <id>`; none when absent */
    approvers: z.array(z.string().min(1).max(200)).max(256).default([]),
    /** how long a call waits for a decision before it is denied as `timed out` (default one hour, at most a week) */
    approvalTimeoutMs: z
      .number()
      .int()
      .min(1_000)
      .max(7 * 24 * 3_600_000)
      .default(3_600_000),
    /** settings of the agent's kind, checked against the kind's own schema when the agent is registered (e.g. a relay's `to`) */
    options: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/** A validated agent. */
export type AgentSpec = z.infer<typeof AgentSpecSchema>;

/**
 * The default agent: the scripted model, bound to every chat. It is seeded
 * behind everything registered (see agent-registry.ts), so it answers only
 * what no other agent's binding takes.
 */
export function defaultAgents(): AgentSpec[] {
  return [AgentSpecSchema.parse({ id: "echo" })];
}

/** A skill reference split into id and range (`"*"` when none is given). */
export function parseSkillRef(ref: string): { id: string; range: string } {
  const at = ref.indexOf("@");
  return at === -1 ? { id: ref, range: "*" } : { id: ref.slice(0, at), range: ref.slice(at + 1) };
}

/**
 * The id an agent is stored, routed and addressed by: a tenant's agent
 * `support` is `<tenant>/support`, so two tenants may each have one; an agent
 * without a tenant keeps its id (its subjects and stored sessions do not
 * change). Throws {@link Error} with a `field` for an id whose tenant part
 * is not the agent's tenant.
 */
export function qualifyAgent(spec: AgentSpec): AgentSpec {
  const slash = spec.id.indexOf("/");
  if (slash === -1) return spec.tenant === undefined ? spec : { ...spec, id: qualifiedAgentId(spec.tenant, spec.id) };
  const prefix = spec.id.slice(0, slash);
  if (spec.tenant !== undefined && spec.tenant !== prefix)
    throw Object.assign(new Error(`id: ${spec.id} is named within the tenant ${prefix}, not ${spec.tenant}`), { field: "id" });
  return { ...spec, tenant: prefix };
}

/** `<tenant>/<name>`: a tenant's agent as the cluster knows it (undefined tenant: the name as it is). */
export function qualifiedAgentId(tenant: string | undefined, name: string): string {
  return tenant === undefined ? name : `${tenant}/${name}`;
}

/** The tenant part of a stored agent id (undefined for the operator's agents). */
export function agentIdTenant(id: string): string | undefined {
  const slash = id.indexOf("/");
  return slash === -1 ? undefined : id.slice(0, slash);
}

/** An agent's id as its own tenant names it (`support` for `acme/support`). */
export function localAgentId(id: string): string {
  return id.slice(id.indexOf("/") + 1);
}
