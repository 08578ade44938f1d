/**
 * `new Claw(...)`: every operation of the node's HTTP API as a method (the
 * parity test holds the two together), lists as async iterables that follow
 * `next_cursor`, streams as async iterables of what arrives. Works wherever
 * `fetch` does: Node 20, browsers, edge workers.
 */
import { ClawError } from "./errors.js";
import { Transport, type Call, type ClawOptions, type RetryPolicy } from "./http.js";
import { sseEvents } from "./sse.js";
import type {
  AgentSpec,
  Approval,
  ApprovalDecision,
  ChannelSummary,
  ChatCompletionRequest,
  CreatedWebhook,
  DeadLetter,
  InvokeInput,
  InvokeResult,
  ListOptions,
  Model,
  OpenAiCallOptions,
  PublishInput,
  PublishResult,
  RegisteredAgent,
  ReplayOptions,
  ReplayResult,
  ResponseBody,
  ResponsesRequest,
  MemoryListing,
  MemoryQuery,
  Schedule,
  ScheduleInput,
  Sender,
  SkillDescriptor,
  SkillInvokeOptions,
  SkillVersion,
  StreamInput,
  UsageQuery,
  UsageReport,
  Webhook,
  WebhookInput,
} from "./types.js";

const seg = encodeURIComponent;
const senderOf = (s: Sender | undefined) => (typeof s === "string" ? { id: s } : s);
const newKey = () => crypto.randomUUID();
/** extra time an attempt is given over the node's own wait, so the node's answer (a 504) comes before ours */
const ANSWER_MARGIN_MS = 5_000;

/** A page of `key` items and the next page's cursor. */
type Page<K extends string, T> = { [P in K]: T[] } & { next_cursor: string | null };

/** Bytes (or text, as UTF-8) as base64, without Node's Buffer. */
function base64(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** The client. */
export class Claw {
  private readonly t: Transport;

  constructor(o: ClawOptions = {}) {
    this.t = new Transport(o);
  }

  private call<T>(method: Call["method"], path: string, retry: RetryPolicy, more: Partial<Call> = {}): Promise<T> {
    return this.t.send({ method, path, retry, ...more }, "json") as Promise<T>;
  }

  /** Every item of a paged list, page after page. */
  private async *pages<T, K extends string>(path: string, key: K, o: ListOptions & Record<string, string | number | undefined> = {}): AsyncGenerator<T> {
    const { pageSize, ...query } = o;
    let cursor: string | undefined;
    do {
      const page = await this.call<Page<K, T>>("GET", path, "safe", { query: { ...query, limit: pageSize, cursor } });
      yield* page[key];
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /**
   * The events of a streamed answer, JSON parsed; an `error` among them is thrown, and so is a stream cut off before its
   * end (`[DONE]` for chat completions, `response.completed`/`response.failed` for responses), as a {@link ClawError}.
   */
  private async *events(call: Call): AsyncGenerator<Record<string, unknown>> {
    const res = await this.t.send(call, "stream");
    if (!res.body) throw new ClawError(res.status, "no_body", "the streamed answer has no body");
    let ended = false;
    try {
      for await (const e of sseEvents(res.body)) {
        if (e.data === "[DONE]") return;
        const v = JSON.parse(e.data) as Record<string, unknown>;
        const err = (v.type === "error" ? v : v.error) as { code?: unknown; message?: unknown } | undefined;
        if (err && typeof err === "object") {
          const code = typeof err.code === "string" ? err.code : "stream_error";
          throw new ClawError(res.status, code, String(err.message ?? "the stream ended with an error"), { body: v });
        }
        ended = v.type === "response.completed" || v.type === "response.failed";
        yield v;
      }
    } catch (e) {
      if (e instanceof ClawError) throw e;
      throw new ClawError(0, "network_error", `${call.method} ${call.path}: the stream broke off: ${(e as Error).message}`, { cause: e });
    }
    if (!ended) throw new ClawError(0, "network_error", `${call.method} ${call.path}: the stream ended before its end`);
  }

  private openAiCall(path: string, body: unknown, o: OpenAiCallOptions, timeoutMs?: number): Call {
    const headers: Record<string, string> = {};
    if (o.idempotencyKey) headers["idempotency-key"] = o.idempotencyKey;
    if (o.session) headers["x-claw-session"] = o.session;
    return { method: "POST", path, body, headers, retry: o.idempotencyKey ? "safe" : "refused", signal: o.signal, timeoutMs };
  }

  /** `GET /openapi.json`: the node's API document. */
  openapi(): Promise<Record<string, unknown>> {
    return this.call("GET", "/openapi.json", "safe");
  }

  /** `GET /metrics`: Prometheus text. */
  metrics(): Promise<string> {
    return this.t.send({ method: "GET", path: "/metrics", retry: "safe", headers: { accept: "text/plain" } }, "text");
  }

  readonly messages = {
    /**
     * `POST /v1/messages`: a message into a chat, resolved once the node holds it durably. Without an
     * `idempotencyKey` one is made, and every retry of this call sends the same one: a retry never makes a second message.
     */
    publish: async (m: PublishInput): Promise<PublishResult> => {
      const { idempotencyKey = newKey(), sender, ...rest } = m;
      const body = { ...rest, ...(sender === undefined ? {} : { sender: senderOf(sender) }), idempotency_key: idempotencyKey };
      const r = await this.call<ResponseBody<"postV1Messages", 202>>("POST", "/v1/messages", "safe", { body });
      return { messageId: r.message_id, duplicate: r.duplicate };
    },
  };

  readonly agents = {
    /** `POST /v1/agents/{id}/invoke`: a message to an agent and its reply. Tried again only with an `idempotencyKey`. */
    invoke: async (agent: string, i: InvokeInput): Promise<InvokeResult> => {
      const { idempotencyKey, timeoutMs, sender, ...rest } = i;
      const body = { ...rest, ...(sender === undefined ? {} : { sender: senderOf(sender) }), idempotency_key: idempotencyKey, timeout_ms: timeoutMs };
      const r = await this.call<ResponseBody<"postV1AgentsByIdInvoke">>("POST", `/v1/agents/${seg(agent)}/invoke`, idempotencyKey ? "safe" : "refused", {
        body,
        timeoutMs: (timeoutMs ?? 30_000) + ANSWER_MARGIN_MS,
      });
      return { messageId: r.message_id, session: r.session, reply: r.reply };
    },
    /** The agent's reply as the model writes it: its text in pieces (over the chat completions stream; `session` names the conversation). */
    stream: (agent: string, i: StreamInput & { signal?: AbortSignal }): AsyncIterable<string> => {
      const chunks = this.events(
        this.openAiCall(
          "/v1/chat/completions",
          { model: agent, messages: [{ role: "user", content: i.text }], stream: true, ...(i.sender === undefined ? {} : { user: senderOf(i.sender)!.id }) },
          { idempotencyKey: i.idempotencyKey, session: i.session, signal: i.signal },
          i.timeoutMs,
        ),
      );
      return (async function* () {
        for await (const c of chunks) {
          const piece = (c.choices as Array<{ delta?: { content?: unknown } }> | undefined)?.[0]?.delta?.content;
          if (typeof piece === "string" && piece !== "") yield piece;
        }
      })();
    },
    /** `GET /v1/agents`: every agent, in the order they answer. */
    list: (o: ListOptions = {}): AsyncIterable<RegisteredAgent> => this.pages("/v1/agents", "agents", { ...o }),
    /** `POST /v1/agents`: registers or changes an agent (applied on every node). */
    register: (spec: AgentSpec): Promise<RegisteredAgent> => this.call("POST", "/v1/agents", "safe", { body: spec }),
    /** `GET /v1/agents/{id}`. */
    get: (id: string): Promise<RegisteredAgent> => this.call("GET", `/v1/agents/${seg(id)}`, "safe"),
  };

  readonly skills = {
    /** `POST /v1/skills/{id}/invoke`: runs a skill wherever a node can; resolves with its output (a skill that failed is a 422 {@link ClawError}). */
    invoke: async (id: string, input: unknown = {}, o: SkillInvokeOptions = {}): Promise<unknown> => {
      const r = await this.call<{ output: unknown }>("POST", `/v1/skills/${seg(id)}/invoke`, "refused", {
        body: { input, version: o.version, timeout_ms: o.timeoutMs },
        timeoutMs: (o.timeoutMs ?? 30_000) + ANSWER_MARGIN_MS,
      });
      return r.output;
    },
    /** `GET /v1/skills`: every registered skill version. */
    list: (o: ListOptions = {}): AsyncIterable<SkillVersion> => this.pages("/v1/skills", "skills", { ...o }),
    /** `POST /v1/skills`: registers a version, its files by path (text or bytes). The same content again changes nothing. */
    register: (descriptor: SkillDescriptor, files: Record<string, string | Uint8Array> = {}): Promise<Record<string, unknown>> =>
      this.call("POST", "/v1/skills", "safe", { body: { ...descriptor, files: Object.fromEntries(Object.entries(files).map(([p, b]) => [p, base64(b)])) } }),
    /** `GET /v1/skills/{id}`: one skill's versions. */
    get: (id: string): Promise<Record<string, unknown>> => this.call("GET", `/v1/skills/${seg(id)}`, "safe"),
  };

  readonly memory = {
    /**
     * `GET /v1/agents/{id}/memory`: what an agent remembers — every scope, one sender's (`channel`, `sender`),
     * one chat's (`channel`, `account`, `chat`), or the best matches for `q`.
     */
    list: (agent: string, q: MemoryQuery = {}): Promise<MemoryListing> => this.call("GET", `/v1/agents/${seg(agent)}/memory`, "safe", { query: { ...q } }),
    /** `DELETE /v1/agents/{id}/memory/{mid}`: forgets one memory. */
    forget: async (agent: string, id: string): Promise<void> => {
      await this.t.send({ method: "DELETE", path: `/v1/agents/${seg(agent)}/memory/${seg(id)}`, retry: "safe" }, "none");
    },
  };

  readonly channels = {
    /** `GET /v1/channels`: channel accounts, the node running each and its state. */
    list: (o: ListOptions = {}): AsyncIterable<ChannelSummary> => this.pages("/v1/channels", "channels", { ...o }),
  };

  readonly dlq = {
    /** `GET /v1/dlq`: dead letters, oldest first, of one stage or all. */
    list: (o: ListOptions & { stage?: string } = {}): AsyncIterable<DeadLetter> => this.pages("/v1/dlq", "dead_letters", { ...o }),
    /** `GET /v1/dlq/{seq}`. */
    get: (seq: number): Promise<DeadLetter> => this.call("GET", `/v1/dlq/${seq}`, "safe"),
    /** `POST /v1/dlq/{seq}/replay`: republishes a dead letter, then removes it unless `keep`. */
    replay: (seq: number, o: ReplayOptions = {}): Promise<ReplayResult> => this.call("POST", `/v1/dlq/${seq}/replay`, "refused", { body: o }),
  };

  readonly webhooks = {
    /** `POST /v1/webhooks`: subscribes a URL to events; the answer's `secret` (for {@link verifyWebhook}) is shown only now. */
    create: (w: WebhookInput): Promise<CreatedWebhook> => this.call("POST", "/v1/webhooks", "refused", { body: w }),
    /** `GET /v1/webhooks`: the subscriptions, without secrets. */
    list: (o: ListOptions = {}): AsyncIterable<Webhook> => this.pages("/v1/webhooks", "webhooks", { ...o }),
    /** `DELETE /v1/webhooks/{id}`. */
    delete: async (id: string): Promise<void> => {
      await this.t.send({ method: "DELETE", path: `/v1/webhooks/${seg(id)}`, retry: "safe" }, "none");
    },
  };

  readonly schedules = {
    /** `POST /v1/schedules`: a message into a chat at a time (`at`), every so often (`every`) or on a cron pattern (`cron`, `tz`). */
    create: (s: ScheduleInput): Promise<Schedule> => this.call("POST", "/v1/schedules", "refused", { body: s }),
    /** `GET /v1/schedules`: the schedules, oldest first. */
    list: (o: ListOptions = {}): AsyncIterable<Schedule> => this.pages("/v1/schedules", "schedules", { ...o }),
    /** `GET /v1/schedules/{id}` (a one-time schedule is gone once it fired). */
    get: (id: string): Promise<Schedule> => this.call("GET", `/v1/schedules/${seg(id)}`, "safe"),
    /** `DELETE /v1/schedules/{id}`: no occurrence after this. */
    delete: async (id: string): Promise<void> => {
      await this.t.send({ method: "DELETE", path: `/v1/schedules/${seg(id)}`, retry: "safe" }, "none");
    },
  };

  readonly usage = {
    /** `GET /v1/usage`: model calls and tokens per UTC day, tenant and agent (days `YYYY-MM-DD`; default the last 30). */
    get: (q: UsageQuery = {}): Promise<UsageReport> => this.call("GET", "/v1/usage", "safe", { query: { ...q } }),
  };

  readonly approvals = {
    /** `GET /v1/approvals`: the tool calls waiting for a human's decision, oldest first (of one agent, one session). */
    list: async (o: { agent?: string; session?: string } = {}): Promise<Approval[]> =>
      (await this.call<ResponseBody<"getV1Approvals">>("GET", "/v1/approvals", "safe", { query: { ...o } })).approvals,
    /**
     * `POST /v1/approvals/{id}`: approves (the tool runs) or denies (the model reads `denied by <by>: <reason>`) a
     * waiting call. Each approval is decided once: a second decision is a ClawError 409 `approval_decided`; not retried.
     */
    decide: (id: string, d: ApprovalDecision): Promise<Approval> => this.call("POST", `/v1/approvals/${seg(id)}`, "refused", { body: d }),
  };

  readonly models = {
    /** `GET /v1/models`: the agents this caller may invoke, as OpenAI's models. */
    list: (): AsyncIterable<Model> => {
      const list = () => this.call<ResponseBody<"getV1Models">>("GET", "/v1/models", "safe");
      return (async function* () {
        yield* (await list()).data;
      })();
    },
    /** `GET /v1/models/{id}`. */
    get: (id: string): Promise<Model> => this.call("GET", `/v1/models/${seg(id)}`, "safe"),
  };

  readonly chat = {
    completions: {
      /** `POST /v1/chat/completions`, OpenAI's body as it is: a `chat.completion`, or with `stream: true` its chunks as they come. */
      create: ((body: ChatCompletionRequest, o: OpenAiCallOptions = {}) =>
        body.stream
          ? this.events(this.openAiCall("/v1/chat/completions", body, o))
          : this.t.send(this.openAiCall("/v1/chat/completions", body, o), "json")) as {
        (body: ChatCompletionRequest & { stream: true }, o?: OpenAiCallOptions): AsyncIterable<Record<string, unknown>>;
        (body: ChatCompletionRequest, o?: OpenAiCallOptions): Promise<Record<string, unknown>>;
      },
    },
  };

  readonly responses = {
    /** `POST /v1/responses`, OpenAI's body as it is: a response, or with `stream: true` its events as they come. */
    create: ((body: ResponsesRequest, o: OpenAiCallOptions = {}) =>
      body.stream ? this.events(this.openAiCall("/v1/responses", body, o)) : this.t.send(this.openAiCall("/v1/responses", body, o), "json")) as {
      (body: ResponsesRequest & { stream: true }, o?: OpenAiCallOptions): AsyncIterable<Record<string, unknown>>;
      (body: ResponsesRequest, o?: OpenAiCallOptions): Promise<Record<string, unknown>>;
    },
  };
}
