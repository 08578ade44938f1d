/**
 * `/v1/webhooks` (the subscriptions of webhooks out; not the platforms'
 * `/v1/webhooks/<type>/<account>`, which take events in): subscribe a URL,
 * list, remove. One made with a tenant's credential gets only that tenant's
 * events, and only that tenant lists and removes it.
 */
import { CreateWebhookSchema, publicView, WebhookUrlError, type WebhookSubscription } from "../webhooks/index.js";
import type { RouteHandlers } from "./api-routes.js";
import { HttpError } from "./errors.js";
import { readJson, sendJson } from "./http-io.js";
import { principalOf } from "./principal.js";
import { page, PageQuerySchema, parseBody, parseQuery } from "./schemas.js";
import { seesTenant } from "./tenant-scope.js";

/** The subscriptions as the gateway sees them. */
export interface WebhookDirectory {
  /** throws {@link WebhookUrlError} for a URL the node would not deliver to */
  create(input: ReturnType<typeof CreateWebhookSchema.parse>, tenant?: string): Promise<WebhookSubscription>;
  list(): WebhookSubscription[];
  remove(id: string): Promise<boolean>;
}

/** The `/v1/webhooks` routes' handlers. */
export function webhooksRoutes(
  hooks: WebhookDirectory,
  maxPayload: number,
): Pick<RouteHandlers, "POST /v1/webhooks" | "GET /v1/webhooks" | "DELETE /v1/webhooks/{id}"> {
  return {
    "POST /v1/webhooks": async (req, res) => {
      const input = parseBody(CreateWebhookSchema, await readJson(req, maxPayload));
      const sub = await hooks.create(input, principalOf(req).tenant).catch((e: unknown) => {
        if (e instanceof WebhookUrlError) throw new HttpError(400, e.code, e.message, e.field, { cause: e });
        throw e;
      });
      sendJson(res, 201, { ...publicView(sub), secret: sub.secret });
    },
    "GET /v1/webhooks": async (req, res, { url }) => {
      const who = principalOf(req);
      const p = page(
        hooks
          .list()
          .filter((h) => seesTenant(who, h.tenant))
          .sort((a, b) => a.created - b.created),
        parseQuery(PageQuerySchema, url.searchParams),
      );
      sendJson(res, 200, { webhooks: p.items.map(publicView), next_cursor: p.next_cursor });
    },
    "DELETE /v1/webhooks/{id}": async (req, res, { params }) => {
      // another tenant's subscription answers as one that does not exist
      const mine = hooks.list().find((h) => h.id === params.id && seesTenant(principalOf(req), h.tenant));
      if (!mine || !(await hooks.remove(params.id!))) throw new HttpError(404, "no_webhook", `no webhook subscription ${params.id}`);
      res.writeHead(204);
      res.end();
    },
  };
}
