/**
 * The data plane's own routes: `POST /v1/messages` (a message into a chat,
 * 202 once it is durable) and `POST /v1/agents/{id}/invoke` (a message to an
 * agent, answered with its reply). A caller writes as itself: into its own
 * sessions (`~<owner>~…`) unless it holds the cross-session scope, and an
 * agent named in `metadata.agent` only where the caller may name it.
 */
import { nuid } from "@nats-io/transport-node";
import type { RouteHandlers } from "./api-routes.js";
import { HttpError } from "./errors.js";
import { readJson, sendJson } from "./http-io.js";
import { callerId, CROSS_SESSION_SCOPE, httpChatAddress, mayAddressChat } from "./http-session.js";
import { idempotencyKeyOf, idempotentMessageId, idempotentSession, idempotentTurnId } from "./idempotency.js";
import { checkChatAddress, type Inbound } from "./inbound.js";
import { checkNamedAgent } from "./named-agent.js";
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
      const { channel, account, chat, idempotency_key, ...rest } = b;
      const who = principalOf(req);
      // a chat that is someone's own session (~<owner>~…) is theirs to write into; an agent named, the invoker's
      for (const [field, id] of [
        ["chat", chat],
        ["sender.id", rest.sender.id],
      ] as const) {
        if (!mayAddressChat(id, who))
          throw new HttpError(403, "forbidden", `${field}: another caller's own (writing as it needs the scope ${CROSS_SESSION_SCOPE})`, field);
      }
      checkNamedAgent(rest.metadata, who);
      const r = await o.inbound.accept({ channel, account, chat }, rest, idempotency_key === undefined ? undefined : idempotentMessageId(who, idempotency_key));
      sendJson(res, 202, { message_id: r.id, duplicate: r.duplicate });
    },
    "POST /v1/agents/{id}/invoke": async (req, res, { params }) => {
      const agent = params.id!;
      if (!o.hasAgent(agent)) throw new HttpError(404, "no_agent", `no agent named ${agent}`);
      o.inbound.checkAvailable();
      const b = parseBody(InvokeSchema, await readJson(req, o.maxPayload));
      const principal = principalOf(req);
      const key = idempotencyKeyOf(req) ?? b.idempotency_key;
      const session = b.session ?? (key ? idempotentSession(principal, agent, key) : nuid.next());
      // the caller speaks as itself: its sender id, like its session, is within its own namespace
      const input = { text: b.text, sender: { ...b.sender, id: callerId(b.sender.id, principal, "sender.id") }, metadata: { ...b.metadata, agent } };
      const idempotencyKey = key ? idempotentTurnId(principal, agent, session, key) : undefined;
      const addr = httpChatAddress(agent, session, principal);
      // the caller's session within its namespace may outgrow a subject token: named as the caller named it
      checkChatAddress(addr, { chat: "session" });
      const { id, reply } = await o.inbound.converse(addr, input, { idempotencyKey, timeoutMs: b.timeout_ms });
      const body = { message_id: id, session, reply: { id: reply.id, kind: reply.kind, text: reply.text, ts: reply.ts } };
      if (reply.kind !== "error") return sendJson(res, 200, body);
      const f = turnFailureAnswer(reply, 502);
      sendJson(res, f.status, { ...body, error: { code: f.code, retryable: f.retryable } }, f.headers);
    },
  };
}
