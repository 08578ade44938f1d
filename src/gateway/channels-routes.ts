/**
 * The channels' routes: `GET /v1/channels` (every channel account of the
 * cluster, the node running it and its state) and
 * `POST /v1/webhooks/{type}/{account}` (a platform's events for an account,
 * which its adapter checks by the platform's own signature or secret).
 */
import type { IncomingMessage } from "node:http";
import type { RouteHandlers } from "./api-routes.js";
import { HttpError } from "./errors.js";
import { readBody, sendJson } from "./http-io.js";
import { page, PageQuerySchema, parseQuery } from "./schemas.js";

/** A platform's request, as the account's adapter takes it. */
export interface PlatformRequest {
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/** What the adapter answers the platform (no body: an empty answer). */
export interface PlatformAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** What the routes need of the node. */
export interface ChannelsRoutesOptions {
  maxPayload: number;
  /** the cluster's channel accounts with their live state */
  channels: () => Promise<unknown[]>;
  /** a platform's request for an account: undefined when no such account takes webhooks */
  webhook: (type: string, account: string, req: PlatformRequest) => Promise<PlatformAnswer | undefined>;
  /** refuses at once (503) while the bus cannot take messages */
  checkAvailable(): void;
}

/** The handlers of `GET /v1/channels` and `POST /v1/webhooks/{type}/{account}`. */
export function channelsRoutes(o: ChannelsRoutesOptions): Pick<RouteHandlers, "GET /v1/channels" | "POST /v1/webhooks/{type}/{account}"> {
  return {
    "GET /v1/channels": async (_req, res, { url }) => {
      const q = parseQuery(PageQuerySchema, url.searchParams);
      const p = page(await o.channels(), q);
      sendJson(res, 200, { channels: p.items, next_cursor: p.next_cursor });
    },
    "POST /v1/webhooks/{type}/{account}": async (req, res, { params }) => {
      o.checkAvailable();
      const [type, account] = [params.type!, params.account!];
      const answer = await o.webhook(type, account, { headers: req.headers, body: await readBody(req, o.maxPayload) });
      if (!answer) throw new HttpError(404, "no_channel", `no ${type} account ${account} takes webhooks here`);
      if (answer.body === undefined) {
        res.writeHead(answer.status, answer.headers ?? {});
        res.end();
        return;
      }
      sendJson(res, answer.status, answer.body, answer.headers);
    },
  };
}
