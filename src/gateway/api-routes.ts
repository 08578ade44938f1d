/**
 * The gateway's routes as data: each with who may call it (its scopes), what
 * it takes (the same zod schemas the handlers validate with) and what it
 * answers. The access check reads the scopes, `/openapi.json` is generated
 * from it, and the router serves only what it has, through one handler per
 * entry ({@link RouteHandlers}, keyed `"<METHOD> <path>"`: complete by type,
 * and checked at start) — so a route cannot be added without being
 * documented and protected (the auth test walks the generated document).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { AgentSpecSchema, BindingSchema } from "../actors/agents.js";
import { SkillDescriptorSchema } from "../skills/descriptor.js";
import { CreateScheduleSchema } from "../schedules/schedule.js";
import { CreateWebhookSchema, WEBHOOK_EVENTS } from "../webhooks/subscriptions.js";
import {
  AcceptedSchema,
  ChannelSummarySchema,
  ChatRequestSchema,
  DeadLetterQuerySchema,
  DeadLetterSchema,
  InvokeReplySchema,
  InvokeSchema,
  InvokeSkillSchema,
  MemoryListingSchema,
  MemoryQuerySchema,
  UsageQuerySchema,
  UsageReportSchema,
  ModelListSchema,
  ModelSchema,
  pageOf,
  PageQuerySchema,
  PostMessageSchema,
  ReplaySchema,
  ResponsesRequestSchema,
} from "./schemas.js";
import { ScheduleViewSchema } from "../schedules/schedule-view.js";
import { ApprovalsQuerySchema, ApprovalViewSchema, DecideApprovalSchema } from "../approvals/approval.js";

/** One answer of a route. */
export interface RouteResponse {
  description: string;
  schema?: z.ZodType;
  /** the body is not JSON (`text/plain`, `text/html`, `text/event-stream`) */
  contentType?: string;
}

/** A route and who may call it. */
export interface RouteRule {
  method: "GET" | "POST" | "DELETE";
  /** the path, with `{name}` for one segment and `{rest*}` for the rest */
  path: string;
  /** public: no credential (health, and webhooks the platforms sign themselves) */
  public?: boolean;
  /** the scopes that let a caller in (any one of them), from the path's parameters */
  scopes?: (p: Record<string, string>) => string[];
  /** a narrower grant (`agents:invoke:<id>`) lets the request in too: the handler checks it once it knows the target */
  narrowedInHandler?: boolean;
  /** a control-plane call: recorded in the audit stream */
  audit?: boolean;
  summary: string;
  tag: string;
  body?: z.ZodType;
  query?: z.ZodType;
  responses: Record<number, RouteResponse>;
}

const one = (s: string) => () => [s];
const WebhookSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  agents: z.array(z.string()).optional(),
  description: z.string().optional(),
  created: z.number(),
});
const json = (description: string, schema?: z.ZodType): RouteResponse => ({ description, ...(schema ? { schema } : {}) });
const RegisteredAgentSchema = z.object({ spec: AgentSpecSchema, source: z.enum(["config", "api"]), priority: z.number(), updatedAt: z.number().optional() });
const RouteViewSchema = z.object({
  agent: z.string(),
  match: z.enum(["chat", "sender", "account", "channel", "any", "default"]),
  binding: BindingSchema.optional(),
});
/** `POST /v1/agents`: an agent, and where its bindings rank among equally specific ones */
const AgentBodySchema = AgentSpecSchema.extend({ priority: z.number().optional() });
const SkillVersionSchema = z.looseObject({ id: z.string(), version: z.string(), source: z.string(), digest: z.string().optional() });

/** Every route of the gateway. */
export const ROUTES = [
  { method: "GET", path: "/healthz", public: true, tag: "operations", summary: "liveness: 200 while the process is sound", responses: { 200: json("alive") } },
  {
    method: "GET",
    path: "/readyz",
    public: true,
    tag: "operations",
    summary: "readiness: 200 while the node can serve, 503 with the reasons otherwise",
    responses: { 200: json("ready"), 503: json("not ready (reasons)") },
  },
  { method: "GET", path: "/openapi.json", public: true, tag: "operations", summary: "this document", responses: { 200: json("the OpenAPI 3.1 document") } },
  {
    method: "GET",
    path: "/metrics",
    scopes: one("metrics:read"),
    tag: "operations",
    summary: "Prometheus metrics",
    responses: { 200: { description: "Prometheus text exposition", contentType: "text/plain" } },
  },
  {
    method: "POST",
    path: "/v1/messages",
    scopes: one("messages:write"),
    tag: "messages",
    summary: "send a message into a chat; 202 once it is durably accepted",
    body: PostMessageSchema,
    responses: {
      202: json("accepted (or absorbed as a duplicate of its idempotency key)", AcceptedSchema),
      503: json("NATS cannot take it now; retry after Retry-After"),
    },
  },
  {
    method: "POST",
    path: "/v1/chat/completions",
    scopes: one("agents:invoke"),
    narrowedInHandler: true,
    tag: "agents",
    summary: "OpenAI chat completions: the model names the agent (agents:invoke:<agent> is enough for that agent)",
    body: ChatRequestSchema,
    responses: {
      200: { description: "a chat.completion, or with stream: true Server-Sent Events of chat.completion.chunk" },
      400: json("a malformed request, or the agent failed for good (its code; x-should-retry: false)"),
      404: json("no agent has that id (OpenAI's error shape)"),
      503: json("the agent failed transiently, or NATS cannot take the message now; retry after Retry-After"),
      504: json("no reply in time (the turn goes on: retry with the same Idempotency-Key to get its reply)"),
    },
  },
  {
    method: "POST",
    path: "/v1/responses",
    scopes: one("agents:invoke"),
    narrowedInHandler: true,
    tag: "agents",
    summary:
      "OpenAI's Responses API (text): the model names the agent, user or previous_response_id the conversation (agents:invoke:<agent> is enough for " +
      "that agent)",
    body: ResponsesRequestSchema,
    responses: {
      200: { description: "a response, or with stream: true Server-Sent Events (response.created, response.output_text.delta, response.completed, …)" },
      400: json("a malformed request, or the agent failed for good (its code; x-should-retry: false)"),
      404: json("no agent has that id (OpenAI's error shape)"),
      503: json("the agent failed transiently, or NATS cannot take the message now; retry after Retry-After"),
      504: json("no reply in time (the turn goes on: retry with the same Idempotency-Key to get its reply)"),
    },
  },
  {
    method: "GET",
    path: "/v1/models",
    scopes: one("agents:invoke"),
    narrowedInHandler: true,
    tag: "agents",
    summary: "OpenAI's model list: the agents the caller may invoke",
    responses: { 200: json("the agents as models", ModelListSchema) },
  },
  {
    method: "GET",
    path: "/v1/models/{id}",
    scopes: (p) => [`agents:invoke:${p.id}`],
    tag: "agents",
    summary: "one agent as OpenAI's model",
    responses: { 200: json("the model", ModelSchema), 404: json("no agent has that id (OpenAI's error shape)") },
  },
  {
    method: "POST",
    path: "/v1/agents/{id}/invoke",
    scopes: (p) => [`agents:invoke:${p.id}`],
    tag: "agents",
    summary: "invoke an agent and wait for its reply",
    body: InvokeSchema,
    responses: {
      200: json("the reply", InvokeReplySchema),
      404: json("no such agent"),
      502: json("the agent failed for good (x-should-retry: false)", InvokeReplySchema),
      503: json("the agent failed transiently (Retry-After), or NATS cannot take the message now", InvokeReplySchema),
      504: json("no reply within timeout_ms (the message is still processed)"),
    },
  },
  {
    method: "GET",
    path: "/v1/agents",
    scopes: () => ["agents:admin", "agents:invoke"],
    audit: true,
    tag: "agents",
    summary: "the agents in the order they answer, and every binding in the order it is tried (most specific first)",
    query: PageQuerySchema,
    responses: { 200: json("a page of agents, and the routing table", pageOf("agents", RegisteredAgentSchema).extend({ routing: z.array(RouteViewSchema) })) },
  },
  {
    method: "POST",
    path: "/v1/agents",
    scopes: one("agents:admin"),
    audit: true,
    tag: "agents",
    summary: "register or change an agent (applied on every node); unknown fields are refused",
    body: AgentBodySchema,
    responses: { 200: json("changed", RegisteredAgentSchema), 201: json("created", RegisteredAgentSchema) },
  },
  {
    method: "GET",
    path: "/v1/agents/{id}",
    scopes: (p) => ["agents:admin", `agents:invoke:${p.id}`],
    audit: true,
    tag: "agents",
    summary: "one agent",
    responses: { 200: json("the agent", RegisteredAgentSchema), 404: json("no such agent") },
  },
  {
    method: "GET",
    path: "/v1/agents/{id}/memory",
    scopes: one("agents:admin"),
    audit: true,
    tag: "agents",
    summary:
      "what an agent remembers (memory.*): every scope, one sender's (channel, sender) or one chat's (channel, account, chat), or the best matches for q",
    query: MemoryQuerySchema,
    responses: { 200: json("the scopes and their memories, newest (or best) first", MemoryListingSchema), 404: json("no such agent") },
  },
  {
    method: "DELETE",
    path: "/v1/agents/{id}/memory/{mid}",
    scopes: one("agents:admin"),
    audit: true,
    tag: "agents",
    summary: "forget one memory of an agent",
    responses: { 204: json("forgotten"), 404: json("no such agent, or no such memory") },
  },
  {
    method: "GET",
    path: "/v1/skills",
    scopes: () => ["skills:admin", "skills:invoke"],
    audit: true,
    tag: "skills",
    summary: "every registered skill version",
    query: PageQuerySchema,
    responses: { 200: json("a page of skill versions", pageOf("skills", SkillVersionSchema)) },
  },
  {
    method: "POST",
    path: "/v1/skills",
    scopes: one("skills:admin"),
    audit: true,
    tag: "skills",
    summary: "register a skill version: its skill.json fields and files (base64) under files",
    body: z.looseObject({ ...SkillDescriptorSchema.shape, files: z.record(z.string(), z.string()).optional() }),
    responses: {
      200: json("unchanged (same content)"),
      201: json("created"),
      403: json("it asks for what the node's owner did not grant it (skillGrants), or takes the id of one of Claw's own skills"),
    },
  },
  {
    method: "GET",
    path: "/v1/skills/{id}",
    scopes: (p) => ["skills:admin", `skills:invoke:${p.id}`],
    audit: true,
    tag: "skills",
    summary: "one skill's versions, oldest first",
    responses: { 200: json("the skill"), 404: json("no such skill") },
  },
  {
    method: "POST",
    path: "/v1/skills/{id}/invoke",
    scopes: (p) => [`skills:invoke:${p.id}`],
    tag: "skills",
    summary: "run a skill on whichever node can",
    body: InvokeSkillSchema,
    responses: {
      200: json("its output"),
      400: json("input that breaks its schema"),
      404: json("no such skill or version"),
      422: json("it ran and failed, or the sandbox stopped it"),
      504: json("no node answered in time"),
    },
  },
  {
    method: "GET",
    path: "/v1/channels",
    scopes: one("channels:admin"),
    audit: true,
    tag: "channels",
    summary: "channel accounts, the node running each and its state",
    query: PageQuerySchema,
    responses: { 200: json("a page of channel accounts", pageOf("channels", ChannelSummarySchema)) },
  },
  {
    method: "GET",
    path: "/v1/usage",
    scopes: one("usage:read"),
    tag: "tenants",
    summary: "model calls and tokens per UTC day, tenant and agent (?tenant&agent&from&to; a tenant's credential: its own)",
    query: UsageQuerySchema,
    responses: { 200: json("the usage of the days asked", UsageReportSchema), 404: json("another tenant than the caller's") },
  },
  {
    method: "GET",
    path: "/v1/media/{id}",
    public: true,
    tag: "skills",
    summary: "a medium a skill made (a browser.open screenshot): its id in its link is the capability to read it",
    responses: { 200: { description: "the medium's bytes, with its type", contentType: "application/octet-stream" }, 404: json("no such medium, or too old") },
  },
  {
    method: "POST",
    path: "/v1/webhooks/{type}/{account}",
    public: true,
    tag: "channels",
    summary: "a platform's events for a channel account (checked by the platform's own signature or secret)",
    responses: {
      200: json("taken"),
      401: json("forged or stale"),
      404: json("no such account takes webhooks"),
      503: json("NATS cannot take it now; the platform sends it again"),
    },
  },
  {
    method: "GET",
    path: "/v1/dlq",
    scopes: one("dlq:admin"),
    audit: true,
    tag: "dead letters",
    summary: "dead letters, oldest first",
    query: DeadLetterQuerySchema,
    responses: { 200: json("a page of dead letters", pageOf("dead_letters", DeadLetterSchema)) },
  },
  {
    method: "GET",
    path: "/v1/dlq/{seq}",
    scopes: one("dlq:admin"),
    audit: true,
    tag: "dead letters",
    summary: "one dead letter, with every header",
    responses: { 200: json("the dead letter", DeadLetterSchema), 404: json("none at that sequence") },
  },
  {
    method: "POST",
    path: "/v1/dlq/{seq}/replay",
    scopes: one("dlq:admin"),
    audit: true,
    tag: "dead letters",
    summary:
      "republish a dead letter to its original subject (or to: inbound, a session's mailbox, or its own kind of skill invocation or webhook " +
      "delivery), then remove it unless keep",
    body: ReplaySchema,
    responses: {
      200: json("replayed", z.object({ subject: z.string(), duplicate: z.boolean() })),
      400: json("a target a dead letter may not go to (replay_target_refused)"),
      404: json("none at that sequence"),
    },
  },
  {
    method: "POST",
    path: "/v1/webhooks",
    scopes: one("webhooks:admin"),
    audit: true,
    tag: "webhooks",
    summary: "subscribe a URL to events (reply, dead_letter); the signing secret is shown once",
    body: CreateWebhookSchema,
    responses: {
      201: json("the subscription, with its secret", WebhookSchema.extend({ secret: z.string() })),
      400: json(
        "not an http(s) URL, or its host is (or resolves to) an address off the public internet and the node does not allow that (CLAW_WEBHOOK_ALLOW_PRIVATE)",
      ),
    },
  },
  {
    method: "GET",
    path: "/v1/webhooks",
    scopes: one("webhooks:admin"),
    audit: true,
    tag: "webhooks",
    summary: "the webhook subscriptions (without secrets)",
    query: PageQuerySchema,
    responses: { 200: json("a page of subscriptions", pageOf("webhooks", WebhookSchema)) },
  },
  {
    method: "DELETE",
    path: "/v1/webhooks/{id}",
    scopes: one("webhooks:admin"),
    audit: true,
    tag: "webhooks",
    summary: "remove a subscription (its waiting deliveries are dropped)",
    responses: { 204: { description: "removed" }, 404: json("no such subscription") },
  },
  {
    method: "POST",
    path: "/v1/schedules",
    scopes: one("schedules:admin"),
    audit: true,
    tag: "schedules",
    summary:
      "schedule a message into a chat: at a time (at), every so often (every) or on a cron pattern (cron, tz); each occurrence comes once, " +
      "as sender schedule:<id>",
    body: CreateScheduleSchema,
    responses: {
      201: json("the schedule, and when it fires next", ScheduleViewSchema),
      400: json("a field that is not what it must be (named), or the agent has too many schedules (too_many_schedules)"),
      403: json("another caller's own session, or an agent the caller may not invoke"),
    },
  },
  {
    method: "GET",
    path: "/v1/schedules",
    scopes: one("schedules:admin"),
    audit: true,
    tag: "schedules",
    summary: "the schedules, oldest first",
    query: PageQuerySchema,
    responses: { 200: json("a page of schedules", pageOf("schedules", ScheduleViewSchema)) },
  },
  {
    method: "GET",
    path: "/v1/schedules/{id}",
    scopes: one("schedules:admin"),
    audit: true,
    tag: "schedules",
    summary: "one schedule (a one-time schedule is gone once it fired)",
    responses: { 200: json("the schedule", ScheduleViewSchema), 404: json("no such schedule") },
  },
  {
    method: "DELETE",
    path: "/v1/schedules/{id}",
    scopes: one("schedules:admin"),
    audit: true,
    tag: "schedules",
    summary: "delete a schedule: no occurrence after this",
    responses: { 204: { description: "deleted" }, 404: json("no such schedule") },
  },
  {
    method: "GET",
    path: "/v1/approvals",
    scopes: one("approvals:admin"),
    audit: true,
    tag: "approvals",
    summary: "the tool calls waiting for a human's approval (an agent's approve), oldest first; ?agent= and ?session= narrow them",
    query: ApprovalsQuerySchema,
    responses: { 200: json("the pending approvals", z.object({ approvals: z.array(ApprovalViewSchema) })) },
  },
  {
    method: "POST",
    path: "/v1/approvals/{id}",
    scopes: one("approvals:admin"),
    audit: true,
    tag: "approvals",
    summary:
      "approve or deny a waiting tool call, once: approved, the tool runs; denied, the model reads `denied by <by>: <reason>` as its result " +
      "(the turn resumes on whichever node owns its session)",
    body: DecideApprovalSchema,
    responses: {
      200: json("the approval as decided", ApprovalViewSchema),
      404: json("no approval with that id (no_approval)"),
      409: json("decided already: each approval is decided once (approval_decided)"),
      422: json("a body that is not {decision: approve | deny, by?, reason?} (invalid_body)"),
    },
  },
  {
    method: "GET",
    path: "/v1/ws",
    scopes: one("messages:write"),
    tag: "messages",
    summary: "a web chat's WebSocket (upgrade); ?session=",
    responses: { 101: { description: "switching protocols" } },
  },
  {
    method: "GET",
    path: "/ui",
    scopes: one("ui:read"),
    tag: "live view",
    summary: "the live view",
    responses: { 200: { description: "the page", contentType: "text/html" } },
  },
  {
    method: "GET",
    path: "/ui/{rest*}",
    scopes: one("ui:read"),
    tag: "live view",
    summary: "the live view's assets, API and event stream",
    responses: { 200: { description: "an asset, JSON, or Server-Sent Events" } },
  },
  {
    method: "GET",
    path: "/chat",
    scopes: one("ui:read"),
    tag: "live view",
    summary: "the web chat page",
    responses: { 200: { description: "the page", contentType: "text/html" } },
  },
] as const satisfies readonly RouteRule[];

/** A route's key: `"<METHOD> <path>"` as the table writes it (`"GET /v1/agents/{id}"`), one per entry of {@link ROUTES}. */
export type RouteKey = (typeof ROUTES)[number] extends infer R
  ? R extends { method: infer M extends string; path: infer P extends string }
    ? `${M} ${P}`
    : never
  : never;

/** What a handler is given besides the request: its URL, and the path's parameters (decoded). */
export interface RouteRequest {
  url: URL;
  params: Record<string, string>;
}

/** Answers one route; what it throws the gateway answers (an {@link HttpError} with its status). */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, route: RouteRequest) => Promise<void>;

/** A handler for every route of {@link ROUTES}, by its key. */
export type RouteHandlers = Record<RouteKey, RouteHandler>;

/** The key of a route of the table. */
function keyOf(rule: RouteRule): RouteKey {
  return `${rule.method} ${rule.path}` as RouteKey;
}

/** The keys `handlers` lacks and those it has that name no route: both empty for a gateway's table. */
export function unmatchedHandlers(handlers: Readonly<Record<string, RouteHandler | undefined>>): { missing: string[]; extra: string[] } {
  const keys = new Set<string>(ROUTES.map(keyOf));
  return {
    missing: [...keys].filter((k) => typeof handlers[k] !== "function"),
    extra: Object.keys(handlers).filter((k) => !keys.has(k)),
  };
}

function compile(r: RouteRule): { key: RouteKey; re: RegExp; names: string[] } {
  const names: string[] = [];
  const re = new RegExp(
    `^${r.path
      .split("/")
      .map((seg) => {
        const m = /^\{(\w+)(\*)?\}$/.exec(seg);
        if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        names.push(m[1]!);
        return m[2] ? "(.+)" : "([^/]+)";
      })
      .join("/")}$`,
  );
  return { key: keyOf(r), re, names };
}

const MATCHERS = ROUTES.map((rule: RouteRule) => ({ rule, ...compile(rule) }));

/** A request's route, its key and its path's parameters; `{ methods }` when the path is a route's but the method is not (a 405); undefined for no route. */
export type RouteLookup = { rule: RouteRule; key: RouteKey; params: Record<string, string> } | { methods: string[] } | undefined;

/** Looks a request up in {@link ROUTES}. */
export function ruleFor(method: string, path: string): RouteLookup {
  const methods: string[] = [];
  for (const { rule, key, re, names } of MATCHERS) {
    const m = re.exec(path);
    if (!m) continue;
    if (method !== rule.method && !(rule.method === "GET" && method === "HEAD")) {
      methods.push(rule.method);
      continue;
    }
    let params: Record<string, string>;
    try {
      params = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
    } catch {
      continue; // a malformed escape: no route
    }
    return { rule, key, params };
  }
  return methods.length > 0 ? { methods } : undefined;
}

/** The route of `key` with the path's parameters `params`: what a call of another transport (gRPC) is checked as, sharing its scopes and limits. */
export function routeLookup(key: RouteKey, params: Record<string, string>): RouteLookup {
  const m = MATCHERS.find((x) => x.key === key)!;
  return { rule: m.rule, key, params };
}
