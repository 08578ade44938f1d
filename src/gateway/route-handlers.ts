/**
 * The handler of every route of the table (api-routes.ts), by its key: the
 * one lookup the gateway dispatches through. Complete by type (a route
 * without a handler does not compile) and checked once more at start, so a
 * handler cannot serve a path the table — and so the access check and
 * `/openapi.json` — does not know.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Bus } from "../bus/index.js";
import { agentsRoutes, type AgentDirectory } from "./agents-routes.js";
import { unmatchedHandlers, type RouteHandler, type RouteHandlers } from "./api-routes.js";
import { channelsRoutes, type ChannelsRoutesOptions } from "./channels-routes.js";
import { chatCompletions } from "./chat-completions.js";
import { dlqRoutes } from "./dlq-routes.js";
import { HttpError, RouteTableError } from "./errors.js";
import type { Inbound } from "./inbound.js";
import { messagesRoutes } from "./messages-routes.js";
import { modelsRoutes } from "./models.js";
import { operationsRoutes, type OperationsRoutesOptions } from "./operations-routes.js";
import { responses } from "./responses.js";
import type { ScheduleStore } from "../schedules/index.js";
import type { ApprovalService } from "../approvals/index.js";
import { approvalsRoutes } from "./approvals-routes.js";
import { mediaRoutes } from "./media-routes.js";
import type { MediaStore } from "../media/index.js";
import { schedulesRoutes } from "./schedules-routes.js";
import type { MemoryStore } from "../memory/index.js";
import { memoryRoutes } from "./memory-routes.js";
import { skillsRoutes, type SkillDirectory } from "./skills-routes.js";
import { webhooksRoutes, type WebhookDirectory } from "./webhooks-routes.js";
import { usageRoutes } from "./usage-routes.js";
import type { UsageMeter } from "../tenants/index.js";

/** What the handlers serve: the node's parts, as the gateway is given them. */
export interface RouteHandlersOptions extends OperationsRoutesOptions, Pick<ChannelsRoutesOptions, "channels" | "webhook"> {
  bus: Bus;
  maxPayload: number;
  /** the cluster's agents (for 404s, `/v1/agents` and `/v1/models`) */
  agents: AgentDirectory & { has(id: string): boolean };
  /** the cluster's skills (`/v1/skills`) */
  skills: SkillDirectory;
  /** webhook subscriptions (`/v1/webhooks`) */
  webhooksOut: WebhookDirectory;
  /** the schedules (`/v1/schedules`) */
  schedules: ScheduleStore;
  /** the agents' memories (`/v1/agents/{id}/memory`) */
  memory: MemoryStore;
  /** the cluster's usage counters (`/v1/usage`) */
  usage?: UsageMeter;
  /** the tool calls waiting for a decision (`/v1/approvals`) */
  approvals: ApprovalService;
  /** media skills made (`/v1/media/{id}`) */
  media: MediaStore;
  /** the live view and the web chat page (`/ui`, `/ui/…`, `/chat`): false when it has nothing at that path */
  liveView: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
}

/** The 404 of a request no route answers. */
export function noRoute(req: IncomingMessage, url: URL): HttpError {
  return new HttpError(404, "not_found", `no route for ${req.method} ${url.pathname}`);
}

/** The handler of every route; throws at once when one is missing or names no route (a defect, not a request's fault). */
export function routeHandlers(o: RouteHandlersOptions, inbound: Inbound): RouteHandlers {
  const hasAgent = (id: string) => o.agents.has(id);
  const checkAvailable = () => inbound.checkAvailable();
  const completions = chatCompletions({ inbound, maxPayload: o.maxPayload, hasAgent });
  const responsesApi = responses({ inbound, maxPayload: o.maxPayload, hasAgent });
  const liveView: RouteHandler = async (req, res, { url }) => {
    if (!(await o.liveView(req, res, url))) throw noRoute(req, url);
  };
  const handlers: RouteHandlers = {
    ...operationsRoutes(o),
    ...messagesRoutes({ inbound, maxPayload: o.maxPayload, hasAgent }),
    // a web chat's socket opens with an upgrade (the server's `upgrade` event): a plain GET of it has nothing to answer
    "GET /v1/ws": async (req, _res, { url }) => {
      throw noRoute(req, url);
    },
    "POST /v1/chat/completions": (req, res) => completions(req, res),
    "POST /v1/responses": (req, res) => responsesApi(req, res),
    ...modelsRoutes(o.agents),
    ...agentsRoutes(o.agents, o.maxPayload),
    ...skillsRoutes(o.skills, o.maxPayload, checkAvailable),
    ...channelsRoutes({ maxPayload: o.maxPayload, channels: o.channels, webhook: o.webhook, checkAvailable }),
    ...dlqRoutes(o.bus, o.maxPayload),
    ...webhooksRoutes(o.webhooksOut, o.maxPayload),
    ...schedulesRoutes(o.schedules, o.maxPayload),
    ...memoryRoutes(o.memory, hasAgent),
    ...usageRoutes(o.usage),
    ...approvalsRoutes(o.approvals, o.maxPayload),
    ...mediaRoutes(o.media),
    "GET /ui": liveView,
    "GET /ui/{rest*}": liveView,
    "GET /chat": liveView,
  };
  const { missing, extra } = unmatchedHandlers(handlers);
  if (missing.length || extra.length) throw new RouteTableError(missing, extra);
  return handlers;
}
