/**
 * `GET /v1/usage?tenant&agent&from&to`: what the agents used, per UTC day,
 * tenant and agent — model calls and the prompt and completion tokens the
 * providers reported, turns answered, skill invocations and their seconds,
 * messages in and out (src/tenants/usage.ts). The operator sees every
 * tenant's (and its own agents', without a tenant); a tenant's credential
 * sees only its own, its agents by the names it gave them.
 */
import { z } from "zod";
import { dayOf, TenantIdSchema, type UsageMeter } from "../tenants/index.js";
import type { RouteHandlers } from "./api-routes.js";
import { HttpError } from "./errors.js";
import { sendJson } from "./http-io.js";
import { principalOf } from "./principal.js";
import { parseQuery, UsageQuerySchema } from "./schemas.js";
import { agentIdAs, agentIdFor } from "./tenant-scope.js";

/** Days a report may span. */
const MAX_DAYS = 400;

/** The `/v1/usage` route's handler; without a meter (a gateway run alone) every report is empty. */
export function usageRoutes(usage: UsageMeter | undefined): Pick<RouteHandlers, "GET /v1/usage"> {
  return {
    "GET /v1/usage": async (req, res, { url }) => {
      const q = parseQuery(UsageQuerySchema, url.searchParams);
      const who = principalOf(req);
      const to = q.to ?? dayOf(Date.now());
      const from = q.from ?? dayOf(Date.parse(`${to}T00:00:00Z`) - 29 * 86_400_000);
      const span = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000;
      if (!(span >= 0)) throw new HttpError(400, "invalid_query", "from: a day no later than to", "from");
      if (span >= MAX_DAYS) throw new HttpError(400, "invalid_query", `from: at most ${MAX_DAYS} days before to`, "from");
      // a tenant's credential reports on its own tenant; another's is as unknown as one that does not exist
      if (who.tenant !== undefined && q.tenant !== undefined && q.tenant !== who.tenant)
        throw new HttpError(404, "no_tenant", `no tenant named ${q.tenant}`, "tenant");
      const tenant = who.tenant ?? q.tenant;
      const rows = usage ? await usage.report({ from, to, tenant, agent: q.agent === undefined ? undefined : agentIdFor(who, q.agent) }) : [];
      sendJson(res, 200, {
        from,
        to,
        usage: rows.map((r) => ({
          day: r.day,
          ...(r.tenant === undefined ? {} : { tenant: r.tenant }),
          agent: agentIdAs(who, r.agent),
          model_calls: r.calls,
          prompt_tokens: r.promptTokens,
          completion_tokens: r.completionTokens,
          turns: r.turns,
          skill_invocations: r.skillInvocations,
          skill_seconds: Math.round(r.skillMs) / 1000,
          messages_in: r.messagesIn,
          messages_out: r.messagesOut,
        })),
      });
    },
  };
}
