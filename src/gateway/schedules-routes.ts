/**
 * `/v1/schedules`: make a schedule (a message put into a chat at a time,
 * every so often, or on a cron pattern), list them, read one, delete one.
 * A schedule writes into its chat as `POST /v1/messages` would: a caller's
 * own sessions (`~<owner>~…`) stay its own, and naming an agent needs
 * `agents:invoke:<agent>`.
 */
import { CreateScheduleSchema, ScheduleLimitError, scheduleView, type ScheduleStore } from "../schedules/index.js";
import { describeError, issueText } from "../schema-issues.js";
import type { RouteHandlers } from "./api-routes.js";
import { HttpError } from "./errors.js";
import { CROSS_SESSION_SCOPE, mayAddressChat } from "./http-session.js";
import { readJson, sendJson } from "./http-io.js";
import { checkNamedAgent } from "./named-agent.js";
import { principalOf } from "./principal.js";
import { page, PageQuerySchema, parseQuery } from "./schemas.js";

/** The `/v1/schedules` routes' handlers. */
export function schedulesRoutes(
  store: ScheduleStore,
  maxPayload: number,
): Pick<RouteHandlers, "POST /v1/schedules" | "GET /v1/schedules" | "GET /v1/schedules/{id}" | "DELETE /v1/schedules/{id}"> {
  return {
    "POST /v1/schedules": async (req, res) => {
      const body = await readJson(req, maxPayload);
      const r = CreateScheduleSchema.safeParse(body);
      if (!r.success) {
        const d = describeError(r.error, CreateScheduleSchema);
        throw new HttpError(400, "invalid_body", issueText(d), d.field);
      }
      const who = principalOf(req);
      const input = r.data;
      for (const [field, id] of [
        ["address.chat", input.address.chat],
        ["sender", input.sender],
      ] as const) {
        if (id !== undefined && !mayAddressChat(id, who))
          throw new HttpError(403, "forbidden", `${field}: another caller's own (writing as it needs the scope ${CROSS_SESSION_SCOPE})`, field);
      }
      try {
        checkNamedAgent(input.agent === undefined ? {} : { agent: input.agent }, who);
      } catch (e) {
        if (e instanceof HttpError) throw new HttpError(e.status, e.code, e.message.replace("metadata.agent", "agent"), "agent", { cause: e });
        throw e;
      }
      const { schedule } = await store.create(input, { by: "http" }).catch((e: unknown) => {
        if (e instanceof ScheduleLimitError) throw new HttpError(400, e.code, e.message, "agent", { cause: e });
        throw e;
      });
      sendJson(res, 201, scheduleView(schedule));
    },
    "GET /v1/schedules": async (_req, res, { url }) => {
      const p = page(await store.list(), parseQuery(PageQuerySchema, url.searchParams));
      sendJson(res, 200, { schedules: p.items.map(scheduleView), next_cursor: p.next_cursor });
    },
    "GET /v1/schedules/{id}": async (_req, res, { params }) => {
      const s = await store.get(params.id!);
      if (!s) throw new HttpError(404, "no_schedule", `no schedule ${params.id}`);
      sendJson(res, 200, scheduleView(s));
    },
    "DELETE /v1/schedules/{id}": async (_req, res, { params }) => {
      if (!(await store.remove(params.id!))) throw new HttpError(404, "no_schedule", `no schedule ${params.id}`);
      res.writeHead(204);
      res.end();
    },
  };
}
