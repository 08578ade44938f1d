/**
 * `GET /v1/models` and `GET /v1/models/{id}` in OpenAI's shape: a model is an
 * agent, and the list holds the agents the caller may invoke
 * (`agents:invoke`, or each `agents:invoke:<agent>` it was narrowed to) —
 * what chat UIs (Open WebUI, LibreChat) and `client.models.list()` read
 * before they talk to one.
 *
 * @see https://platform.openai.com/docs/api-reference/models
 */
import { z } from "zod";
import type { AgentDirectory } from "./agents-routes.js";
import type { RouteHandlers } from "./api-routes.js";
import { sendJson } from "./http-io.js";
import { openAiError } from "./openai-error.js";
import { allowed, principalOf } from "./principal.js";
import { agentsSeenBy } from "./tenant-scope.js";

/** What every model says it is owned by: the agents are this Claw's. */
export const MODEL_OWNER = "claw";

// the registry's entries as the directory gives them (JSON): the id, and when the agent last changed
const EntrySchema = z.object({ spec: z.object({ id: z.string() }), updatedAt: z.number().optional() });

/** An agent as OpenAI's model object. */
function modelOf(entry: unknown): { id: string; object: "model"; created: number; owned_by: string } | undefined {
  const e = EntrySchema.safeParse(entry);
  if (!e.success) return undefined;
  return { id: e.data.spec.id, object: "model", created: Math.floor((e.data.updatedAt ?? 0) / 1000), owned_by: MODEL_OWNER };
}

/** The `/v1/models` routes' handlers. */
export function modelsRoutes(agents: AgentDirectory): Pick<RouteHandlers, "GET /v1/models" | "GET /v1/models/{id}"> {
  return {
    "GET /v1/models": async (req, res) => {
      const data = agentsSeenBy(agents, principalOf(req))
        .list()
        .flatMap((a) => modelOf(a) ?? [])
        .filter((m) => allowed(req, `agents:invoke:${m.id}`));
      sendJson(res, 200, { object: "list", data });
    },
    "GET /v1/models/{id}": async (req, res, { params }) => {
      const id = params.id!;
      const model = modelOf(agentsSeenBy(agents, principalOf(req)).get(id));
      // the route's scope (agents:invoke:<id>) let the caller in: only a missing agent is left to say
      if (!model) openAiError(res, 404, `The model \`${id}\` does not exist: no agent has that id`, "invalid_request_error", "model_not_found", "model");
      else sendJson(res, 200, model);
    },
  };
}
