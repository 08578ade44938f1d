/**
 * `claw.v1.Claw` (proto/claw/v1/claw.proto): the HTTP gateway's data plane
 * over gRPC. Each call passes the same access check as its HTTP route —
 * same credential (metadata `authorization: Bearer <key or JWT>`), same
 * scopes, same shared rate limits, refusals in the same audit trail — and
 * then does what that route does, through the same functions
 * (gateway/data-plane.ts): a gRPC caller's sessions are the same caller's
 * over HTTP, and no other caller's. Only the request's shape and the
 * answer's are gRPC's: errors are mapped once (status.ts).
 */
import { status, type Metadata, type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Principal } from "../auth/index.js";
import type { Bus } from "../bus/index.js";
import type { Audit } from "../observability/index.js";
import type { Access } from "../gateway/access.js";
import { routeLookup, type RouteKey } from "../gateway/api-routes.js";
import { checkInvocable, invokeAgent, invokeSkill, publishMessage, type DataPlaneOptions, type SkillDirectory } from "../gateway/data-plane.js";
import { HttpError } from "../gateway/errors.js";
import { parseJsonText } from "../gateway/http-io.js";
import { OPEN } from "../gateway/principal.js";
import { InvokeSchema, InvokeSkillSchema, parseBody, PostMessageSchema } from "../gateway/schemas.js";
import { TurnFailedError, turnFailureAnswer } from "../gateway/turn-failure.js";
import { GRPC_CHANNEL } from "./names.js";
import { serveReplies, type RepliesRequest } from "./replies.js";
import { grpcCode, toServiceError } from "./status.js";

/** How long a `Chat` waits for its reply when the call has no deadline sooner (as OpenAI's endpoints). */
const CHAT_TIMEOUT_MS = 120_000;

/** What the service needs of the node. */
export interface ClawServiceOptions extends DataPlaneOptions {
  bus: Bus;
  skills: SkillDirectory;
  /** who may call what (the HTTP gateway's check); absent: everyone may call everything */
  access?: Access;
  audit?: Audit;
  /** how long a `Replies` consumer outlives its last stream (`CLAW_WS_CONSUMER_IDLE_MS`) */
  repliesIdleMs?: number;
  /** the open `Replies` streams: each ends when called (the server stops) */
  streams: Set<() => void>;
  onError: (e: unknown) => void;
}

type Call = Pick<ServerUnaryCall<unknown, unknown>, "metadata" | "getPeer" | "getDeadline">;

/** The client's address, as HTTP's `from` (the socket's remote address, without its port). */
function peerAddress(peer: string): string {
  const i = peer.lastIndexOf(":");
  return i > 0 ? peer.slice(0, i) : peer;
}

/** The call's bearer credential: `authorization: Bearer <token>` ("" for another form, undefined for none). */
function bearerOf(metadata: Metadata): string | undefined {
  const v = metadata.get("authorization")[0];
  if (v === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(String(v));
  return m ? m[1] : "";
}

/** ms left before the call's deadline (Infinity without one). */
function remainingMs(call: Call): number {
  const d = call.getDeadline();
  const at = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(at) ? Math.max(1, at - Date.now()) : Infinity;
}

/** The handlers of `claw.v1.Claw`, by method name. */
export function clawService(o: ClawServiceOptions): UntypedServiceImplementation {
  /** The access check of the route `key`: the caller, or a refusal thrown (401 and 403 recorded in the audit trail). */
  async function admitted(call: Call, method: string, key: RouteKey, params: Record<string, string> = {}): Promise<Principal> {
    if (!o.access) return OPEN;
    const from = peerAddress(call.getPeer());
    const a = await o.access.admitToken(bearerOf(call.metadata), routeLookup(key, params), from);
    if (a.ok) return a.principal;
    const retry = a.headers["retry-after"];
    const e = new HttpError(a.status, a.code, a.message, undefined, retry ? { retryAfterS: Number(retry) } : undefined);
    // refused credentials are recorded; refused rates are not (a flood would flood the trail)
    if (a.status !== 429 && a.status !== 503) {
      o.audit?.record({ who: a.principal?.id ?? "anonymous", what: `gRPC ${method}`, from, outcome: grpcStatusName(a.status), detail: a.message });
    }
    throw e;
  }

  function unary<Req, Res>(run: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: (e: ReturnType<typeof toServiceError> | null, r?: Res) => void) => {
      run(call.request, call).then(
        (r) => callback(null, r),
        (e: unknown) => callback(toServiceError(e, o.onError)),
      );
    };
  }

  return {
    Publish: unary<PublishRequest, unknown>(async (r, call) => {
      const who = await admitted(call, "Publish", "POST /v1/messages");
      o.inbound.checkAvailable();
      const b = parseBody(PostMessageSchema, {
        channel: r.channel || GRPC_CHANNEL,
        account: r.account || "default",
        chat: r.chat,
        sender: { id: r.sender_id || GRPC_CHANNEL },
        ...(r.text ? { text: r.text } : {}),
        ...(Object.keys(r.metadata ?? {}).length > 0 ? { metadata: r.metadata } : {}),
        ...(r.idempotency_key ? { idempotency_key: r.idempotency_key } : {}),
      });
      return publishMessage(o.inbound, who, b, o.hasAgent);
    }),

    Invoke: unary<InvokeRequest, unknown>(async (r, call) => {
      const who = await admitted(call, "Invoke", "POST /v1/agents/{id}/invoke", { id: r.agent });
      if (!r.agent) throw new HttpError(400, "invalid_body", "agent: must not be empty", "agent");
      const agent = checkInvocable(o, r.agent, who);
      const body = parseBody(InvokeSchema, {
        text: r.text,
        ...(r.session ? { session: r.session } : {}),
        sender: { id: r.sender_id || GRPC_CHANNEL },
        ...(r.timeout_ms ? { timeout_ms: r.timeout_ms } : {}),
        ...(r.idempotency_key ? { idempotency_key: r.idempotency_key } : {}),
      });
      const timeoutMs = Math.min(body.timeout_ms, remainingMs(call));
      const t = await invokeAgent(o, who, agent, { body, key: body.idempotency_key, timeoutMs });
      if (t.reply.kind === "error") throw new TurnFailedError(turnFailureAnswer(t.reply, 502));
      return { message_id: t.message_id, session: t.session, text: t.reply.text ?? "" };
    }),

    Chat: (call: ServerWritableStream<ChatRequest, unknown>) => {
      void chat(call).catch((e: unknown) => call.emit("error", toServiceError(e, o.onError)));
    },

    InvokeSkill: unary<InvokeSkillRequest, unknown>(async (r, call) => {
      await admitted(call, "InvokeSkill", "POST /v1/skills/{id}/invoke", { id: r.skill });
      if (!r.skill) throw new HttpError(400, "invalid_body", "skill: must not be empty", "skill");
      o.inbound.checkAvailable();
      const b = parseBody(InvokeSkillSchema, {
        ...(r.input_json ? { input: parseJsonText(r.input_json, "input_json") } : {}),
        ...(r.version ? { version: r.version } : {}),
        ...(r.timeout_ms ? { timeout_ms: r.timeout_ms } : {}),
      });
      const out = await invokeSkill(o.skills, r.skill, { ...b, timeout_ms: Math.min(b.timeout_ms, remainingMs(call)) });
      if (out.kind === "failed") throw new HttpError(422, out.error.code, `${r.skill} failed: ${out.error.message}`);
      return { output_json: JSON.stringify(out.output ?? null), duration_ms: Math.round(out.durationMs) };
    }),

    Replies: (call: ServerWritableStream<RepliesRequest, unknown>) => {
      void admitted(call, "Replies", "GET /v1/ws")
        .then((who) => serveReplies(o, call, who))
        .catch((e: unknown) => call.emit("error", toServiceError(e, o.onError)));
    },
  };

  /** A turn whose reply is streamed as the model writes it: its pieces, then `done` with the whole text. */
  async function chat(call: ServerWritableStream<ChatRequest, unknown>): Promise<void> {
    const r = call.request;
    const who = await admitted(call, "Chat", "POST /v1/agents/{id}/invoke", { id: r.agent });
    if (!r.agent) throw new HttpError(400, "invalid_body", "agent: must not be empty", "agent");
    const agent = checkInvocable(o, r.agent, who);
    const body = parseBody(InvokeSchema, { text: r.text, ...(r.session ? { session: r.session } : {}), sender: { id: GRPC_CHANNEL } });
    let streamed = "";
    const t = await invokeAgent(o, who, agent, {
      body,
      key: undefined,
      timeoutMs: Math.min(CHAT_TIMEOUT_MS, remainingMs(call)),
      onDelta: (piece) => {
        streamed += piece;
        call.write({ delta: piece });
      },
    });
    // a failure after pieces were sent is still the call's status: gRPC ends a stream with one
    if (t.reply.kind === "error") throw new TurnFailedError(turnFailureAnswer(t.reply, 502));
    const full = t.reply.text ?? "";
    // the pieces are best effort (core NATS): what they missed comes as one more, when they were its start
    const rest = full.startsWith(streamed) ? full.slice(streamed.length) : "";
    if (rest) call.write({ delta: rest });
    call.write({ done: true, text: full });
    call.end();
  }
}

/** The gRPC status name an HTTP refusal is answered with (the audit trail's outcome). */
const grpcStatusName = (httpStatus: number): string => status[grpcCode(httpStatus)];

/** The requests as proto-loader reads them (`keepCase`, `defaults`: every field present, empty when unset). */
interface PublishRequest {
  channel: string;
  account: string;
  chat: string;
  text: string;
  sender_id: string;
  metadata: Record<string, string>;
  idempotency_key: string;
}
interface InvokeRequest {
  agent: string;
  session: string;
  text: string;
  sender_id: string;
  timeout_ms: number;
  idempotency_key: string;
}
interface ChatRequest {
  agent: string;
  session: string;
  text: string;
}
interface InvokeSkillRequest {
  skill: string;
  input_json: string;
  version: string;
  timeout_ms: number;
}
