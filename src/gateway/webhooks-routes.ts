/**
 * `/v1/webhooks` (the subscriptions of webhooks out; not the platforms'
 * `/v1/webhooks/<type>/<account>`, which take events in): subscribe a URL,
 * list, remove.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { CreateWebhookSchema, publicView, WebhookUrlError, type WebhookSubscription } from "../webhooks/index.js";
import { HttpError } from "./errors.js";
import { readJson, sendJson } from "./http-io.js";
import { page, PageQuerySchema, parseBody, parseQuery } from "./schemas.js";

/** The subscriptions as the gateway sees them. */
export interface WebhookDirectory {
  /** throws {@link WebhookUrlError} for a URL the node would not deliver to */
  create(input: ReturnType<typeof CreateWebhookSchema.parse>): Promise<WebhookSubscription>;
  list(): WebhookSubscription[];
  remove(id: string): Promise<boolean>;
}

/** The `/v1/webhooks` routes, for the gateway's router: true when handled. */
export function webhooksRoutes(hooks: WebhookDirectory, maxPayload: number): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> {
  return async (req, res, url) => {
    if (url.pathname === "/v1/webhooks") {
      if (req.method === "POST") {
        const input = parseBody(CreateWebhookSchema, await readJson(req, maxPayload));
        const sub = await hooks.create(input).catch((e: unknown) => {
          if (e instanceof WebhookUrlError) throw new HttpError(400, e.code, e.message, e.field, { cause: e });
          throw e;
        });
        sendJson(res, 201, { ...publicView(sub), secret: sub.secret });
        return true;
      }
      const p = page(
        hooks.list().sort((a, b) => a.created - b.created),
        parseQuery(PageQuerySchema, url.searchParams),
      );
      sendJson(res, 200, { webhooks: p.items.map(publicView), next_cursor: p.next_cursor });
      return true;
    }
    const one = /^\/v1\/webhooks\/([^/]+)$/.exec(url.pathname);
    if (!one || req.method !== "DELETE") return false;
    if (!(await hooks.remove(decodeURIComponent(one[1]!)))) throw new HttpError(404, "no_webhook", `no webhook subscription ${one[1]}`);
    res.writeHead(204);
    res.end();
    return true;
  };
}
