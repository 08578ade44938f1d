/**
 * Slack over the HTTP Events API: Slack posts events to
 * `/v1/webhooks/slack/<account>` on any node; each request's signature is
 * verified with the signing secret (@slack/bolt's `verifySlackRequest`: a
 * request older than 5 minutes, or signed otherwise, is refused 401), its
 * message handed to `claw.in`, and only then answered 200 — a 503 makes
 * Slack send it again, and what Slack sends again is absorbed (a message's
 * id is its channel and `ts`, the same for a retry and for the `message` and
 * `app_mention` events of one message). Replies go out through the Web API
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
 * - `apiUrl` points the Web API client elsewhere (a test's fake).
 */
import type { WebClient } from "@slack/web-api";
import { z } from "zod";
import { growingReplies } from "../growing-replies.js";
import { RefusedSendError, RetryLaterError, type AdapterHost, type ChannelAdapter, type ChannelConnection, type WebhookAnswer, type WebhookRequest } from "../types.js";

export const SlackOptionsSchema = z
  .object({
    type: z.literal("slack"),
    account: z.string().min(1).max(128),
    mode: z.literal("http", { message: 'only "http" (the Events API on the gateway) is built; Socket Mode is not yet' }).default("http"),
    /** the bot token, `xoxb-…` (`botTokenEnv`) */
    botToken: z.string().regex(/^xoxb-/, "a bot token starts with xoxb-"),
    /** the app's signing secret (`signingSecretEnv`) */
    signingSecret: z.string().min(1),
    apiUrl: z.string().url().optional(),
    /** a channel message starts a thread that is its session (default), or the whole channel is one session */
    threads: z.boolean().default(true),
  })
  .strict();

export type SlackOptions = z.infer<typeof SlackOptionsSchema>;

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

const header = (h: WebhookRequest["headers"], name: string) => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

async function webhook(o: SlackOptions, req: WebhookRequest, host: AdapterHost): Promise<WebhookAnswer> {
  const { verifySlackRequest } = await import("@slack/bolt");
  const body = req.body.toString("utf8");
  try {
    verifySlackRequest({ signingSecret: o.signingSecret, body, headers: { "x-slack-signature": header(req.headers, "x-slack-signature") ?? "", "x-slack-request-timestamp": Number(header(req.headers, "x-slack-request-timestamp")) } });
  } catch (e) {
    return { status: 401, body: { error: { code: "bad_signature", message: (e as Error).message } } };
  }
  let payload: { type?: string; challenge?: string; event_id?: string; event?: SlackEvent };
  try {
    payload = JSON.parse(body) as typeof payload;
  } catch {
    return { status: 400, body: { error: { code: "bad_json", message: "the body is not JSON" } } };
  }
  if (payload.type === "url_verification") return { status: 200, body: { challenge: payload.challenge } };
  const e = payload.event;
  // what is not a person's message (edits, joins, the bot's own posts) has nothing to answer
  if (payload.type !== "event_callback" || !e || (e.type !== "message" && e.type !== "app_mention") || e.bot_id || e.subtype || !e.channel || !e.ts) return { status: 200, body: {} };
  const direct = e.channel_type === "im";
  const thread = e.thread_ts ?? (direct || !o.threads ? undefined : e.ts);
  await host.receive({
    chat: thread ? `${e.channel}/${thread}` : e.channel,
    data: new TextEncoder().encode(JSON.stringify({ text: e.text ?? "", sender: { id: e.user ?? "unknown" } })),
    id: `${e.channel}:${e.ts}`,
    metadata: { eventId: payload.event_id, channel: e.channel, ts: e.ts, ...(e.thread_ts ? { threadTs: e.thread_ts } : {}), ...(e.channel_type ? { channelType: e.channel_type } : {}) },
    routing: { channel: e.channel, ...(thread ? { threadTs: thread } : {}) },
  });
  return { status: 200, body: {} };
}

async function connect(o: SlackOptions): Promise<ChannelConnection> {
  const { WebClient: Client } = await import("@slack/web-api");
  // the runner retries (with Slack's Retry-After): the client must not wait or retry on its own
  const client: WebClient = new Client(o.botToken, { slackApiUrl: o.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
  await client.auth.test();
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
    { everyMs: 1_000, maxText: 40_000 },
  );
  return {
    // the Events API has no connection to lose
    lost: new Promise<Error>(() => {}),
    delta: (piece) => growing.delta(piece),
    async send({ envelope, routing }) {
      const channel = typeof routing?.channel === "string" ? routing.channel : where(envelope.chat).channel;
      const threadTs = typeof routing?.threadTs === "string" ? routing.threadTs : where(envelope.chat).thread_ts;
      try {
        if (await growing.finish(envelope.replyTo, envelope.chat, envelope.text ?? "")) return;
        await client.chat.postMessage({ channel, text: envelope.text ?? "", ...(threadTs ? { thread_ts: threadTs } : {}) });
      } catch (e) {
        const err = e as { code?: string; retryAfter?: number; data?: { error?: string } };
        if (err.code === "slack_webapi_rate_limited_error") throw new RetryLaterError("Slack: rate limited", Math.max(1, err.retryAfter ?? 1) * 1000);
        if (err.code === "slack_webapi_platform_error" && err.data?.error && !TRANSIENT.has(err.data.error)) throw new RefusedSendError(`Slack refused the reply: ${err.data.error}`, err.data.error);
        throw e;
      }
    },
    async close() {},
  };
}

/** The Slack channel type. */
export const slackAdapter: ChannelAdapter<SlackOptions> = {
  type: "slack",
  options: SlackOptionsSchema as unknown as z.ZodType<SlackOptions>,
  capabilities: { threads: true, edits: true, media: false, maxTextLength: 40_000 },
  placement: "one-node",
  connect: (o) => connect(o),
  webhook,
};
