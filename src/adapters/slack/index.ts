/**
 * Slack, in either of its two ways in:
 *
 * - **HTTP Events API** (`"mode": "http"`, the default): Slack posts events
 *   to `/v1/webhooks/slack/<account>` on any node; each request's signature
 *   is verified with the signing secret (@slack/bolt's `verifySlackRequest`:
 *   a request older than 5 minutes, or signed otherwise, is refused 401), its
 *   message handed to `claw.in`, and only then answered 200 — a 503 makes
 *   Slack send it again.
 * - **Socket Mode** (`"mode": "socket"`, with an app-level token `xapp-…`):
 *   the node running the account opens Slack's WebSocket
 *   (@slack/socket-mode) — nothing needs to reach the node from outside. An
 *   envelope is acknowledged once its message is on `claw.in`; one that is
 *   not is sent again by Slack. A lost socket (or Slack's `disconnect`
 *   asking for a new one) is the runner's to reconnect, with its backoff and
 *   its state in the live view; the account moves with its lease.
 *
 * Either way, what Slack sends again is absorbed: a message's id is its
 * channel and `ts`, the same for a retry and for the `message` and
 * `app_mention` events of one message. Replies go out through the Web API
 * (`chat.postMessage`) from the node running the account.
 *
 * - Threads are sessions: a message in a channel starts a thread (the reply
 *   goes into it) and the thread's messages continue that session; the chat
 *   is `<channel>/<thread ts>`. A direct message's chat is its channel.
 * - A 429 is sent again after its `Retry-After`; a Web API error that will
 *   not change (`channel_not_found`, `not_in_channel`, `is_archived`, …) is
 *   dead-lettered with Slack's code.
 * - A reply the agent streams is shown growing: a message in the thread,
 *   updated (`chat.update`) at most once a second, last with the whole reply.
 * - Media in a reply: images as image blocks (Slack fetches the URL), other
 *   files as links, under the text.
 * - `apiUrl` points the Web API client (and Socket Mode's
 *   `apps.connections.open`) elsewhere (a test's fake).
 */
import type { WebClient } from "@slack/web-api";
import { LogLevel, type Logger as SlackLogger } from "@slack/logger";
import { z } from "zod";
import type { Logger } from "../../log.js";
import { defineAdapter } from "../define-adapter.js";
import { EVERY_MEDIUM } from "../fit-reply.js";
import { growingReplies } from "../growing-replies.js";
import {
  RefusedSendError,
  RetryLaterError,
  type AdapterHost,
  type ChannelConnection,
  type NativeMessage,
  type WebhookAnswer,
  type WebhookRequest,
} from "../types.js";
import type { Envelope } from "../../bus/index.js";

export const SlackOptionsSchema = z
  .object({
    type: z.literal("slack"),
    account: z.string().min(1).max(128),
    mode: z.enum(["http", "socket"]).default("http"),
    /** the bot token, `xoxb-…` (`botTokenEnv`) */
    botToken: z.string().regex(/^xoxb-/, "a bot token starts with xoxb-"),
    /** the app's signing secret (`signingSecretEnv`): needed for the HTTP Events API */
    signingSecret: z.string().min(1).optional(),
    /** the app-level token, `xapp-…` with `connections:write` (`appTokenEnv`): needed for Socket Mode */
    appToken: z
      .string()
      .regex(/^xapp-/, "an app-level token starts with xapp-")
      .optional(),
    apiUrl: z.string().url().optional(),
    /** a channel message starts a thread that is its session (default), or the whole channel is one session */
    threads: z.boolean().default(true),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.mode === "http" && !o.signingSecret)
      ctx.addIssue({
        code: "custom",
        path: ["signingSecretEnv"],
        message: 'the HTTP Events API ("mode": "http") needs the signing secret: set signingSecretEnv',
      });
    if (o.mode === "socket" && !o.appToken)
      ctx.addIssue({ code: "custom", path: ["appTokenEnv"], message: 'Socket Mode ("mode": "socket") needs an app-level token (xapp-…): set appTokenEnv' });
  });

export type SlackOptions = z.infer<typeof SlackOptionsSchema>;

/** Slack's longest message text. */
const MAX_TEXT = 40_000;

/** Web API errors that a retry would not change: the reply is dead-lettered. */
const TRANSIENT = new Set(["ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"]);

interface SlackEvent {
  type?: string;
  subtype?: string;
  bot_id?: string;
  channel?: string;
  channel_type?: string;
  user?: string;
  text?: string;
  ts?: string;
  thread_ts?: string;
}

/** An Events API payload (the webhook's body, a Socket Mode envelope's `payload`). */
interface EventsPayload {
  type?: string;
  challenge?: string;
  event_id?: string;
  event?: SlackEvent;
}

/** The message an event carries, as a native message; undefined for what has nothing to answer (edits, joins, the bot's own posts). */
function nativeOf(o: SlackOptions, payload: EventsPayload): NativeMessage | undefined {
  const e = payload.event;
  if (payload.type !== "event_callback" || !e || (e.type !== "message" && e.type !== "app_mention") || e.bot_id || e.subtype || !e.channel || !e.ts)
    return undefined;
  const direct = e.channel_type === "im";
  const thread = e.thread_ts ?? (direct || !o.threads ? undefined : e.ts);
  return {
    chat: thread ? `${e.channel}/${thread}` : e.channel,
    data: new TextEncoder().encode(JSON.stringify({ text: e.text ?? "", sender: { id: e.user ?? "unknown" } })),
    id: `${e.channel}:${e.ts}`,
    metadata: {
      eventId: payload.event_id,
      channel: e.channel,
      ts: e.ts,
      ...(e.thread_ts ? { threadTs: e.thread_ts } : {}),
      ...(e.channel_type ? { channelType: e.channel_type } : {}),
    },
    routing: { channel: e.channel, ...(thread ? { threadTs: thread } : {}) },
  };
}

/** What a button of an approval's notice carries: the chat command it stands for (docs/approvals.md). */
const APPROVAL_PRESS = /^\/(approve|deny) ap[a-z0-9]{24}$/;

/** An interactive payload (a button pressed: `block_actions`), as far as Claw reads it. */
interface ActionsPayload {
  type?: string;
  user?: { id?: string; name?: string };
  channel?: { id?: string };
  container?: { channel_id?: string; thread_ts?: string };
  message?: { ts?: string; thread_ts?: string };
  actions?: Array<{ action_id?: string; value?: string; action_ts?: string }>;
}

/** A press of an approval's button, as the message its command is (from whoever pressed it, in the notice's thread). */
function pressOf(o: SlackOptions, p: ActionsPayload): NativeMessage | undefined {
  const a = p.actions?.[0];
  const channel = p.channel?.id ?? p.container?.channel_id;
  if (p.type !== "block_actions" || !a?.value || !APPROVAL_PRESS.test(a.value) || !channel || !p.user?.id) return undefined;
  const thread = p.message?.thread_ts ?? p.container?.thread_ts;
  return {
    chat: thread && o.threads ? `${channel}/${thread}` : channel,
    data: new TextEncoder().encode(JSON.stringify({ text: a.value, sender: { id: p.user.id, ...(p.user.name ? { name: p.user.name } : {}) } })),
    id: `${channel}:press:${a.action_ts ?? p.message?.ts ?? ""}:${p.user.id}`,
    metadata: { channel, action: a.action_id },
    routing: { channel, ...(thread ? { threadTs: thread } : {}) },
  };
}

/** Approve and Deny buttons under a notice whose metadata holds an approval (`metadata.approval.id`). */
function approvalBlocks(text: string, metadata: Record<string, unknown>): Array<Record<string, unknown>> | undefined {
  const id = (metadata["approval"] as { id?: unknown } | undefined)?.id;
  if (typeof id !== "string" || !APPROVAL_PRESS.test(`/approve ${id}`)) return undefined;
  const button = (label: string, value: string, style: string) => ({
    type: "button",
    text: { type: "plain_text", text: label },
    value,
    style,
    action_id: value.split(" ")[0]!.slice(1),
  });
  return [
    { type: "section", text: { type: "mrkdwn", text: text.slice(0, 3_000) } },
    { type: "actions", elements: [button("Approve", `/approve ${id}`, "primary"), button("Deny", `/deny ${id}`, "danger")] },
  ];
}

const header = (h: WebhookRequest["headers"], name: string) => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

async function webhook(o: SlackOptions, req: WebhookRequest, host: AdapterHost): Promise<WebhookAnswer> {
  if (o.mode !== "http" || !o.signingSecret)
    return { status: 404, body: { error: { code: "not_found", message: `the Slack account ${o.account} takes its events over Socket Mode, not here` } } };
  const { verifySlackRequest } = await import("@slack/bolt");
  const body = req.body.toString("utf8");
  try {
    verifySlackRequest({
      signingSecret: o.signingSecret,
      body,
      headers: {
        "x-slack-signature": header(req.headers, "x-slack-signature") ?? "",
        "x-slack-request-timestamp": Number(header(req.headers, "x-slack-request-timestamp")),
      },
    });
  } catch (e) {
    return { status: 401, body: { error: { code: "bad_signature", message: (e as Error).message } } };
  }
  let payload: EventsPayload | undefined;
  let press: NativeMessage | undefined;
  try {
    // a button pressed comes form-encoded, its JSON in `payload` (Slack's interactivity request)
    const form = /x-www-form-urlencoded/.test(header(req.headers, "content-type") ?? "") ? new URLSearchParams(body).get("payload") : undefined;
    if (form === undefined) payload = JSON.parse(body) as EventsPayload;
    else press = form === null ? undefined : pressOf(o, JSON.parse(form) as ActionsPayload);
  } catch {
    return { status: 400, body: { error: { code: "bad_json", message: "the body is not JSON" } } };
  }
  if (!payload) {
    if (press) await host.receive(press);
    return { status: 200, body: {} };
  }
  if (payload.type === "url_verification") return { status: 200, body: { challenge: payload.challenge } };
  const m = nativeOf(o, payload);
  if (m) await host.receive(m);
  return { status: 200, body: {} };
}

/** @slack/socket-mode's logger, onto the account's (its debug chatter dropped). */
function slackLogger(log: Logger): SlackLogger {
  let level = LogLevel.WARN;
  return {
    debug: () => {},
    info: () => {},
    warn: (...m: unknown[]) => log.warn({ from: "slack" }, m.map(String).join(" ")),
    error: (...m: unknown[]) => log.warn({ from: "slack" }, m.map(String).join(" ")),
    setLevel: (l) => void (level = l),
    getLevel: () => level,
    setName: () => {},
  };
}

/**
 * Opens the account's Socket Mode connection. Resolves once Slack said hello;
 * `lost` settles when the socket closes for any reason but {@link close}.
 */
async function socketMode(o: SlackOptions, host: AdapterHost): Promise<{ lost: Promise<Error>; close(): Promise<void> }> {
  const { SocketModeClient } = await import("@slack/socket-mode");
  // the runner reconnects (with its backoff, seen in the live view), not the client
  const client = new SocketModeClient({
    appToken: o.appToken!,
    autoReconnectEnabled: false,
    logger: slackLogger(host.log),
    clientOptions: { slackApiUrl: o.apiUrl, retryConfig: { retries: 0 } },
  });
  let closing = false;
  client.on("slack_event", ({ type, body, ack }: { type: string; body: EventsPayload; ack: () => Promise<void> }) => {
    const m = type === "events_api" ? nativeOf(o, body) : type === "interactive" ? pressOf(o, body as ActionsPayload) : undefined;
    // acknowledged once Claw holds it; not acknowledged, Slack sends it again
    (m ? host.receive(m) : Promise.resolve()).then(
      () => ack().catch(() => {}),
      (e: Error) => host.log.warn({ err: e.message }, "slack: an event could not be taken; Slack will send it again"),
    );
  });
  const lost = new Promise<Error>((resolve) =>
    client.on("disconnected", (e?: Error) => !closing && resolve(e ?? new Error("the Socket Mode connection closed"))),
  );
  try {
    await client.start();
  } catch (e) {
    closing = true;
    await client.disconnect().catch(() => {});
    throw e;
  }
  return {
    lost,
    async close() {
      closing = true;
      await client.disconnect();
    },
  };
}

/** Blocks for a reply's media: images shown (Slack fetches them), anything else a link. */
function mediaBlocks(text: string, media: Envelope["media"]): Array<Record<string, unknown>> | undefined {
  const withUrl = media.filter((m) => m.url);
  if (withUrl.length === 0) return undefined;
  return [
    ...(text ? [{ type: "section", text: { type: "mrkdwn", text: text.slice(0, 3_000) } }] : []),
    ...withUrl.map((m) =>
      m.type === "image"
        ? { type: "image", image_url: m.url, alt_text: m.name ?? "image" }
        : { type: "section", text: { type: "mrkdwn", text: `<${m.url}|${m.name ?? m.type}>` } },
    ),
  ];
}

async function connect(o: SlackOptions, host: AdapterHost): Promise<ChannelConnection> {
  const { WebClient: Client } = await import("@slack/web-api");
  // the runner retries (with Slack's Retry-After): the client must not wait or retry on its own
  const client: WebClient = new Client(o.botToken, { slackApiUrl: o.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
  await client.auth.test();
  const socket = o.mode === "socket" ? await socketMode(o, host) : undefined;
  // the chat is `<channel>` or `<channel>/<thread ts>`
  const where = (chat: string) => {
    const [channel, threadTs] = chat.split("/") as [string, string | undefined];
    return { channel, ...(threadTs ? { thread_ts: threadTs } : {}) };
  };
  // replies being written: a message in the thread, updated at most once a second
  const growing = growingReplies<string>(
    {
      start: async (chat, text) => String((await client.chat.postMessage({ ...where(chat), text })).ts),
      edit: async (chat, ts, text) => void (await client.chat.update({ channel: where(chat).channel, ts, text })),
    },
    { everyMs: 1_000, maxText: MAX_TEXT },
  );
  return {
    // the Events API has no connection to lose
    lost: socket?.lost ?? new Promise<Error>(() => {}),
    delta: (piece) => growing.delta(piece),
    async send({ envelope, routing }) {
      const channel = typeof routing?.channel === "string" ? routing.channel : where(envelope.chat).channel;
      const threadTs = typeof routing?.threadTs === "string" ? routing.threadTs : where(envelope.chat).thread_ts;
      const text = envelope.text ?? "";
      try {
        // a streamed reply's message is finished with the text; its media, if any, follow in a message of their own
        const grown = await growing.finish(envelope.replyTo, envelope.chat, text);
        const blocks = approvalBlocks(text, envelope.metadata) ?? mediaBlocks(grown ? "" : text, envelope.media);
        if (grown && !blocks) return;
        // with blocks, the text is what notifications show
        await client.chat.postMessage({
          channel,
          text: text || (envelope.media[0]?.name ?? "media"),
          ...(blocks ? { blocks } : {}),
          ...(threadTs ? { thread_ts: threadTs } : {}),
        });
      } catch (e) {
        const err = e as { code?: string; retryAfter?: number; data?: { error?: string } };
        if (err.code === "slack_webapi_rate_limited_error") throw new RetryLaterError("Slack: rate limited", Math.max(1, err.retryAfter ?? 1) * 1000);
        if (err.code === "slack_webapi_platform_error" && err.data?.error && !TRANSIENT.has(err.data.error))
          throw new RefusedSendError(`Slack refused the reply: ${err.data.error}`, err.data.error);
        throw e;
      }
    },
    async close() {
      await socket?.close();
    },
  };
}

/** The Slack channel type. */
export const slackAdapter = defineAdapter({
  type: "slack",
  options: SlackOptionsSchema,
  // images shown, any other medium a link block
  capabilities: { threads: true, edits: true, media: EVERY_MEDIUM, maxTextLength: MAX_TEXT },
  connect: (o, host) => connect(o, host),
  webhook,
});
