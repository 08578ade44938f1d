/**
 * The data plane's own routes: `POST /v1/messages` (a message into a chat,
 * 202 once it is durable) and `POST /v1/agents/{id}/invoke` (a message to an
 * agent, answered with its reply). What they do is the data plane's
 * (data-plane.ts, shared with gRPC); here is only HTTP: the body read and
 * validated, the `Idempotency-Key` header, the answer and its status.
 */
import type { RouteHandlers } from "./api-routes.js";
import { checkInvocable, invokeAgent, publishMessage } from "./data-plane.js";
import { readJson, sendJson } from "./http-io.js";
import { idempotencyKeyOf } from "./idempotency.js";
import type { Inbound } from "./inbound.js";
import { principalOf } from "./principal.js";
import { InvokeSchema, parseBody, PostMessageSchema } from "./schemas.js";
import { turnFailureAnswer } from "./turn-failure.js";

/** What the routes need of the gateway. */
export interface MessagesRoutesOptions {
  inbound: Inbound;
  maxPayload: number;
  /** whether an agent of that id exists (404 otherwise) */
  hasAgent(id: string): boolean;
}

/** The handlers of `POST /v1/messages` and `POST /v1/agents/{id}/invoke`. */
export function messagesRoutes(o: MessagesRoutesOptions): Pick<RouteHandlers, "POST /v1/messages" | "POST /v1/agents/{id}/invoke"> {
  return {
    "POST /v1/messages": async (req, res) => {
      o.inbound.checkAvailable();
      const b = parseBody(PostMessageSchema, await readJson(req, o.maxPayload));
      sendJson(res, 202, await publishMessage(o.inbound, principalOf(req), b, o.hasAgent));
    },
    "POST /v1/agents/{id}/invoke": async (req, res, { params }) => {
      const agent = checkInvocable(o, params.id!, principalOf(req));
      const b = parseBody(InvokeSchema, await readJson(req, o.maxPayload));
      const { message_id, session, reply } = await invokeAgent(o, principalOf(req), agent, { body: b, key: idempotencyKeyOf(req) ?? b.idempotency_key });
      const body = { message_id, session, reply: { id: reply.id, kind: reply.kind, text: reply.text, ts: reply.ts } };
      if (reply.kind !== "error") return sendJson(res, 200, body);
      const f = turnFailureAnswer(reply, 502);
      sendJson(res, f.status, { ...body, error: { code: f.code, retryable: f.retryable } }, f.headers);
    },
  };
}
