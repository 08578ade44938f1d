/**
 * The agents of a cluster, in KV `claw_registry` (`agents.<id>`), applied on
 * every node as they change — no restart. `CLAW_CONFIG` seeds it: an agent
 * from the file is written when missing or when the file changed it; one
 * registered or updated through the API (`POST /v1/agents`) is left to the API.
 * Bindings are tried most specific first (agent-routing.ts); between equally
 * specific ones by `priority` (the file's agents by their place in it, the
 * API's 100 unless given), then by id. The built-in `echo`, seeded on a node
 * without `CLAW_CONFIG`, comes behind every other agent
 * ({@link FALLBACK_PRIORITY}): it never shadows an agent someone registered.
 */
import type { KV } from "@nats-io/kv";
import { KvWatchInclude } from "@nats-io/kv";
import { ZodError } from "zod";
import { withRetry } from "../bus/index.js";
import { agentKind } from "./agent-kinds.js";
import type { AgentKind } from "./turn.js";
import { AgentSpecSchema, qualifyAgent, type AgentSpec, type Binding } from "./agents.js";
import { routingTable, type BindingMatch } from "./agent-routing.js";
import { AgentSpecError } from "./errors.js";
import { describeError } from "../schema-issues.js";

/** An agent as the registry keeps it. */
export interface RegisteredAgent {
  spec: AgentSpec;
  /** `config` (seeded from CLAW_CONFIG) or `api` */
  source: "config" | "api";
  priority: number;
  updatedAt: number;
}

/** The registry of a node. */
export interface AgentRegistry {
  /** every agent, in binding order */
  list(): readonly AgentSpec[];
  get(id: string): RegisteredAgent | undefined;
  entries(): RegisteredAgent[];
  /** registers or updates an agent (validated; throws {@link AgentSpecError}); resolves when stored */
  put(input: unknown, source: "config" | "api", priority?: number): Promise<{ agent: RegisteredAgent; created: boolean }>;
  /**
   * Seeds the registry from `CLAW_CONFIG`: writes the file's agents where they
   * are missing or the file changed them and, with `prune`, removes agents an
   * earlier file seeded that this one no longer lists (never the API's).
   * Returns the ids removed.
   */
  seed(agents: readonly AgentSpec[], o: { prune: boolean }): Promise<string[]>;
  /**
   * Seeds the built-in agents of a node without `CLAW_CONFIG` into an empty
   * registry, behind everything else; one an older Claw seeded ahead of
   * registered agents is moved behind them.
   */
  seedDefaults(agents: readonly AgentSpec[]): Promise<void>;
  /** the agents in the order they answer (by their most specific binding), and every binding in the order it is tried */
  routing(defaultAgent?: string): { agents: RegisteredAgent[]; routes: RouteView[] };
  close(): void;
}

/** What else decides whether an agent can run (its model names). */
export interface AgentChecks {
  /** names a model of an agent (of `tenant`) may have on this node (`scripted` and the configured providers, or the tenant's own) */
  models: (tenant?: string) => readonly string[];
}

/** One line of the routing table as `GET /v1/agents` shows it. */
export interface RouteView {
  agent: string;
  match: BindingMatch | "default";
  binding?: Binding;
}

const PREFIX = "agents.";
const DEFAULT_API_PRIORITY = 100;
/** The priority of the agents seeded without `CLAW_CONFIG`: behind any agent registered or configured. */
export const FALLBACK_PRIORITY = 1_000_000;

/** Checks an agent's `options` against its kind's schema (a kind without one takes none). Throws {@link AgentSpecError} naming the field. */
function checkKindOptions(spec: AgentSpec, kind: AgentKind): void {
  if (!kind.options) {
    if (spec.options !== undefined) throw new AgentSpecError(`options: the ${kind.name} kind takes no options`, "options");
    return;
  }
  const r = kind.options.safeParse(spec.options ?? {});
  if (r.success) return;
  const d = describeError(r.error, kind.options);
  const field = d.field ? `options.${d.field}` : "options";
  throw new AgentSpecError(`${field}: ${d.message}`, field, { cause: r.error });
}

/** Validates an agent: its schema, its kind and its options, its models. Throws {@link AgentSpecError} naming the field. */
export function validateAgent(input: unknown, checks: AgentChecks): AgentSpec {
  let spec: AgentSpec;
  try {
    spec = AgentSpecSchema.parse(input);
  } catch (e) {
    if (e instanceof ZodError) {
      const d = describeError(e, AgentSpecSchema);
      throw new AgentSpecError(`${d.field ?? "agent"}: ${d.message}`, d.field, { cause: e });
    }
    throw e;
  }
  try {
    spec = qualifyAgent(spec);
  } catch (e) {
    throw new AgentSpecError((e as Error).message, "id", { cause: e });
  }
  const kind = agentKind(spec.kind);
  if (!kind) throw new AgentSpecError(`kind: unknown agent kind ${spec.kind}`, "kind");
  checkKindOptions(spec, kind);
  const models = checks.models(spec.tenant);
  for (const [field, m] of [["model", spec.model] as const, ...spec.fallbacks.map((f, i) => [`fallbacks.${i}`, f] as const)]) {
    if (!models.includes(m)) throw new AgentSpecError(`${field}: no provider named ${m} is configured (known: ${models.join(", ")})`, field);
  }
  return spec;
}

const same = (a: AgentSpec, b: AgentSpec) => JSON.stringify(a) === JSON.stringify(b);

/** Opens the registry on `kv`: loads every agent, then follows changes. */
export async function openAgentRegistry(kv: KV, checks: AgentChecks, o: { onError?: (e: unknown) => void } = {}): Promise<AgentRegistry> {
  const agents = new Map<string, RegisteredAgent & { revision: number }>();
  let ordered: AgentSpec[] = [];
  const reorder = () => {
    ordered = [...agents.values()].sort((a, b) => a.priority - b.priority || a.spec.id.localeCompare(b.spec.id)).map((a) => a.spec);
  };
  const apply = (key: string, revision: number, value: RegisteredAgent | undefined) => {
    const id = key.slice(PREFIX.length);
    const had = agents.get(id);
    if (had && had.revision >= revision) return; // an older entry, seen after a newer one
    if (value) agents.set(id, { ...value, revision });
    else agents.delete(id);
    reorder();
  };
  const decodeEntry = (bytes: Uint8Array): RegisteredAgent | undefined => {
    try {
      const r = JSON.parse(new TextDecoder().decode(bytes)) as RegisteredAgent;
      return { ...r, spec: AgentSpecSchema.parse(r.spec) };
    } catch (e) {
      o.onError?.(e);
      return undefined;
    }
  };

  // follow changes first, then read what is there: nothing falls between the two
  const watch = await kv.watch({ key: `${PREFIX}>`, include: KvWatchInclude.UpdatesOnly });
  void (async () => {
    for await (const e of watch) apply(e.key, e.revision, e.operation === "PUT" ? decodeEntry(e.value) : undefined);
  })().catch((e: unknown) => o.onError?.(e));
  for await (const key of await withRetry(() => kv.keys(`${PREFIX}>`))) {
    const e = await withRetry(() => kv.get(key));
    if (e) apply(key, e.revision, e.operation === "PUT" ? decodeEntry(e.value) : undefined);
  }

  const registry: AgentRegistry = {
    list: () => ordered,
    get: (id) => agents.get(id),
    entries: () => ordered.map((s) => agents.get(s.id)!),
    async put(input, source, priority) {
      const spec = validateAgent(input, checks);
      const key = PREFIX + spec.id;
      for (;;) {
        const existing = await withRetry(() => kv.get(key));
        const live = existing?.operation === "PUT" ? decodeEntry(existing.value) : undefined;
        const agent: RegisteredAgent = { spec, source, priority: priority ?? live?.priority ?? DEFAULT_API_PRIORITY, updatedAt: Date.now() };
        const data = JSON.stringify(agent);
        try {
          const revision = existing ? await kv.update(key, data, existing.revision) : await kv.create(key, data);
          apply(key, revision, agent);
          return { agent, created: !live };
        } catch (e) {
          // someone wrote it between our read and write: read again (anything else is NATS's to report)
          if (!(await kv.get(key).then((now) => now?.revision !== existing?.revision))) throw e;
        }
      }
    },
    async seed(seeds, { prune }) {
      for (const [i, spec] of seeds.entries()) {
        const had = agents.get(spec.id);
        if (had && (had.source === "api" || (same(had.spec, spec) && had.priority === i))) continue;
        await registry.put(spec, "config", i);
      }
      if (!prune) return [];
      const listed = new Set(seeds.map((a) => a.id));
      const stale = [...agents.values()].filter((a) => a.source === "config" && !listed.has(a.spec.id));
      for (const a of stale) {
        await withRetry(() => kv.delete(PREFIX + a.spec.id, { previousSeq: a.revision })).catch(() => undefined); // changed meanwhile: leave it
        apply(PREFIX + a.spec.id, a.revision + 1, undefined);
      }
      return stale.map((a) => a.spec.id);
    },
    async seedDefaults(seeds) {
      const empty = agents.size === 0;
      for (const spec of seeds) {
        const had = agents.get(spec.id);
        // seeded by an older Claw at priority 0, ahead of everything: moved behind
        const legacy = had !== undefined && had.source === "config" && had.priority === 0 && same(had.spec, spec);
        if (empty || legacy) await registry.put(spec, "config", FALLBACK_PRIORITY);
      }
    },
    routing(defaultAgent) {
      const table = routingTable(ordered, defaultAgent);
      const first = new Map<string, number>();
      table.forEach((r, i) => first.has(r.agent.id) || first.set(r.agent.id, i));
      const rank = (id: string) => first.get(id) ?? table.length;
      return {
        agents: ordered.map((s) => agents.get(s.id)!).sort((a, b) => rank(a.spec.id) - rank(b.spec.id)),
        routes: table.map((r) => ({ agent: r.agent.id, match: r.match, ...(r.binding ? { binding: r.binding } : {}) })),
      };
    },
    close: () => watch.stop(),
  };
  return registry;
}
