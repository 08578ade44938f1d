/**
 * Telegram through grammY's Bot API client, by long polling: one poller per
 * bot in the cluster (the account's lease), its update offset kept in KV
 * (`claw_channels`) and advanced only once a batch's messages are on
 * `claw.in` — an update is never skipped, and one read again (after a node
 * died mid-batch) is absorbed: its envelope id is `telegram:<account>:<update_id>`.
 *
 * - The chat: the Telegram chat id. Private chats are taken whole; in groups
 *   only messages that mention the bot or answer it, unless `groups: "all"`.
 * - Typing is shown while the agent thinks (`sendChatAction`, best effort).
 * - A reply the agent streams is shown growing: one message, edited
 *   (`editMessageText`) at most once a second, last with the whole reply.
 * - Replies answer the message they reply to (`reply_parameters`), split at
 *   4,096 characters; a 429 is retried after its `retry_after`; a 400 or 403
 *   (chat not found, bot blocked, …) is refused → dead letter with Telegram's words.
 * - `apiRoot` points grammY elsewhere: a local Bot API server, or a test's fake.
 */
import type { Api } from "grammy";
import type { Message, Update } from "grammy/types";
import { z } from "zod";
import { timingSafeEqual } from "node:crypto";
import { defineAdapter } from "../define-adapter.js";
import { EVERY_MEDIUM } from "../fit-reply.js";
import { growingReplies } from "../growing-replies.js";
import { splitText as splitAt } from "../split-text.js";
import {
  RefusedSendError,
  RetryLaterError,
  type AdapterHost,
  type ChannelConnection,
  type MediaType,
  type NativeMessage,
  type WebhookAnswer,
  type WebhookRequest,
} from "../types.js";

export const TelegramOptionsSchema = z
  .object({
    type: z.literal("telegram"),
    account: z.string().min(1).max(128),
    /** the bot's token from @BotFather (`tokenEnv`: the variable that holds it) */
    token: z.string().regex(/^\d+:[\w-]+$/, "a bot token from @BotFather looks like 123456:ABC-def…"),
    apiRoot: z.string().url().optional(),
    /** long polling (default), or Telegram posting updates to `/v1/webhooks/telegram/<account>` on any node */
    mode: z.enum(["polling", "webhook"]).default("polling"),
    /** webhook mode: the secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token` (`webhookSecretEnv`); required */
    webhookSecret: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,256}$/, "1-256 characters of A-Z, a-z, 0-9, _ and -")
      .optional(),
    /** webhook mode: the public URL of `/v1/webhooks/telegram/<account>`; given, the node running the account registers it with `setWebhook` */
    webhookUrl: z.string().url().optional(),
    /** in groups: only messages that mention the bot or reply to it (`mention`), or every message (`all`; the bot's privacy mode must be off) */
    groups: z.enum(["mention", "all"]).default("mention"),
    pollTimeoutSeconds: z.number().int().min(0).max(50).default(25),
  })
  .strict()
  .refine((o) => o.mode !== "webhook" || o.webhookSecret !== undefined, {
    message: "webhook mode needs webhookSecretEnv: Telegram's requests are told from forged ones by it",
    path: ["webhookSecret"],
  });

export type TelegramOptions = z.infer<typeof TelegramOptionsSchema>;

/** Telegram's longest message text. */
const MAX_TEXT = 4_096;
/** How often a message that shows a reply being written is edited, at most. */
const STREAM_EDIT_MS = 1_000;
const OFFSET = "offset";

/** Splits a text into pieces Telegram takes (at line breaks where it can). */
export function splitText(text: string, max = MAX_TEXT): string[] {
  return splitAt(text, max);
}

function senderName(m: Message): string | undefined {
  const f = m.from;
  if (!f) return undefined;
  return [f.first_name, f.last_name].filter(Boolean).join(" ") || f.username;
}

/** What a button of an approval's notice sends when pressed: the chat command it stands for (docs/approvals.md). */
const APPROVAL_PRESS = /^\/(approve|deny) ap[a-z0-9]{24}$/;

/** Approve and Deny buttons under a notice whose metadata holds an approval (`metadata.approval.id`). */
function approvalButtons(metadata: Record<string, unknown>): { reply_markup?: { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> } } {
  const id = (metadata["approval"] as { id?: unknown } | undefined)?.id;
  if (typeof id !== "string" || !APPROVAL_PRESS.test(`/approve ${id}`)) return {};
  return {
    reply_markup: {
      inline_keyboard: [
        [
          { text: "Approve", callback_data: `/approve ${id}` },
          { text: "Deny", callback_data: `/deny ${id}` },
        ],
      ],
    },
  };
}

/** A press of an approval's button, as the message its command is (from whoever pressed it, in the notice's chat). */
function pressOf(u: Update): NativeMessage | undefined {
  const q = u.callback_query;
  if (!q?.data || !q.message || !APPROVAL_PRESS.test(q.data)) return undefined;
  const name = [q.from.first_name, q.from.last_name].filter(Boolean).join(" ") || q.from.username;
  return {
    chat: String(q.message.chat.id),
    data: new TextEncoder().encode(JSON.stringify({ text: q.data, sender: { id: String(q.from.id), ...(name ? { name } : {}) } })),
    id: String(u.update_id),
    metadata: { updateId: u.update_id, callbackQueryId: q.id, chatType: q.message.chat.type },
    routing: { messageId: q.message.message_id },
  };
}

/** The native message of an update, or undefined when the bot is not meant to take it. */
function nativeOf(u: Update, me: { id: number; username: string }, o: TelegramOptions): NativeMessage | undefined {
  if (u.callback_query) return pressOf(u);
  const m = u.message;
  if (!m) return undefined;
  const text = m.text ?? m.caption ?? "";
  const group = m.chat.type === "group" || m.chat.type === "supergroup";
  if (group && o.groups === "mention" && !text.includes(`@${me.username}`) && m.reply_to_message?.from?.id !== me.id) return undefined;
  const media = m.photo
    ? [{ type: "image", name: m.photo.at(-1)!.file_unique_id }]
    : m.document
      ? [{ type: "file", name: m.document.file_name, mime: m.document.mime_type }]
      : m.voice
        ? [{ type: "audio", mime: m.voice.mime_type }]
        : [];
  if (text === "" && media.length === 0) return undefined; // a sticker, a join, …: nothing to answer
  const name = senderName(m);
  return {
    chat: String(m.chat.id),
    data: new TextEncoder().encode(
      JSON.stringify({ text, sender: { id: String(m.from?.id ?? m.chat.id), ...(name ? { name } : {}) }, ...(media.length ? { media } : {}) }),
    ),
    id: String(u.update_id),
    metadata: { updateId: u.update_id, messageId: m.message_id, chatType: m.chat.type, ...(m.from?.username ? { username: m.from.username } : {}) },
    routing: { messageId: m.message_id },
  };
}

/** A Telegram error as the runner understands it: later, refused, or (thrown as is) transient. */
function sendError(e: unknown): Error {
  const err = e as { name?: string; error_code?: number; description?: string; parameters?: { retry_after?: number } };
  if (err.name !== "GrammyError") return e as Error;
  if (err.error_code === 429) return new RetryLaterError(`Telegram: ${err.description}`, Math.max(1, err.parameters?.retry_after ?? 1) * 1000);
  if (err.error_code === 400 || err.error_code === 403)
    return new RefusedSendError(`Telegram refused the reply: ${err.description}`, err.error_code === 403 ? "forbidden" : "refused");
  return e as Error;
}

/** A caption's limit (a longer text goes in a message of its own, before the media). */
const MAX_CAPTION = 1_024;

/** The Bot API method that sends each kind of medium by URL, and the field its URL goes in. */
const SEND_MEDIA: Partial<Record<MediaType, { method: "sendPhoto" | "sendDocument" | "sendAudio" | "sendVideo" | "sendSticker"; field: string }>> = {
  image: { method: "sendPhoto", field: "photo" },
  file: { method: "sendDocument", field: "document" },
  audio: { method: "sendAudio", field: "audio" },
  video: { method: "sendVideo", field: "video" },
  sticker: { method: "sendSticker", field: "sticker" },
};

async function connect(o: TelegramOptions, host: AdapterHost): Promise<ChannelConnection> {
  const { Api: BotApi } = await import("grammy");
  const api: Api = new BotApi(o.token, { apiRoot: o.apiRoot, timeoutSeconds: o.pollTimeoutSeconds + 15 });
  const me = await api.getMe();
  const bot = { id: me.id, username: me.username };
  let offset = Number((await host.state.get(OFFSET)) ?? 0) || undefined;
  let closing = false;
  const stop = new AbortController();
  let lose!: (e: Error) => void;
  const lost = new Promise<Error>((r) => (lose = r));

  const poll = async () => {
    while (!closing) {
      let updates: Update[];
      try {
        updates = await api.getUpdates(
          { offset, timeout: o.pollTimeoutSeconds, allowed_updates: ["message", "callback_query"] },
          stop.signal as Parameters<Api["getUpdates"]>[1],
        );
      } catch (e) {
        if (closing) return;
        const retry = sendError(e);
        if (retry instanceof RetryLaterError) {
          await new Promise((r) => setTimeout(r, retry.retryAfterMs));
          continue;
        }
        // 409: another poller of this bot (a node that has not noticed it lost the lease yet); 401: a revoked token; or the network
        return lose(e as Error);
      }
      // a batch's messages side by side (one chat's in order), then the offset moves past them
      const taken: Array<Promise<void>> = [];
      for (const u of updates) {
        const native = nativeOf(u, bot, o);
        if (!native) continue;
        taken.push(host.receive(native));
        // a button press is answered at once (its spinner stops); the notice that follows says what it did
        if (u.callback_query) void api.answerCallbackQuery(u.callback_query.id).catch(() => undefined);
        else void api.sendChatAction(native.chat, "typing").catch(() => undefined);
      }
      try {
        await Promise.all(taken);
      } catch (e) {
        if (!closing) lose(e as Error);
        return;
      }
      if (updates.length === 0) continue;
      offset = updates.at(-1)!.update_id + 1;
      try {
        await host.state.put(OFFSET, String(offset));
      } catch (e) {
        if (!closing) lose(e as Error);
        return;
      }
    }
  };
  if (o.mode === "polling") void poll();
  // webhook mode: updates come to the gateway (any node); the node running the account answers them
  else if (o.webhookUrl) await api.setWebhook(o.webhookUrl, { secret_token: o.webhookSecret, allowed_updates: ["message", "callback_query"] });

  // replies being written: the message that shows them growing, edited at most once a second
  const growing = growingReplies<number>(
    {
      start: async (chat, text) => (await api.sendMessage(chat, text)).message_id,
      edit: (chat, id, text) =>
        api.editMessageText(chat, id, text).then(
          () => undefined,
          (e: unknown) => {
            // "message is not modified" (the same text again) is no failure
            if (!/not modified/.test((e as Error).message)) throw e;
          },
        ),
    },
    { everyMs: STREAM_EDIT_MS, maxText: MAX_TEXT },
  );

  return {
    lost,
    delta: (piece) => growing.delta(piece),
    async send({ envelope, routing }) {
      const text = envelope.text ?? "";
      const media = envelope.media.filter((m) => m.url && SEND_MEDIA[m.type]);
      if (text === "" && media.length === 0) throw new RefusedSendError("the reply has no text and no media Telegram can send", "empty");
      const replyTo = typeof routing?.messageId === "number" ? routing.messageId : undefined;
      const answering = (first: boolean) =>
        first && replyTo !== undefined ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } } : {};
      try {
        // the streamed message becomes the reply, when there is one that can hold it
        const grown = text !== "" && (await growing.finish(envelope.replyTo, envelope.chat, text));
        // one medium with a short text: the text is its caption
        const captioned = !grown && media.length === 1 && text !== "" && text.length <= MAX_CAPTION;
        if (!grown && !captioned)
          for (const [i, piece] of (text === "" ? [] : splitText(text)).entries())
            await api.sendMessage(envelope.chat, piece, { ...answering(i === 0), ...(i === 0 ? approvalButtons(envelope.metadata) : {}) });
        // then the media, each by its URL (Telegram fetches it)
        for (const [i, m] of media.entries()) {
          const other = { ...answering(captioned && i === 0), ...(captioned ? { caption: text } : {}) };
          const { method, field } = SEND_MEDIA[m.type]!;
          await api.raw[method]({ chat_id: envelope.chat, [field]: m.url!, ...other } as never);
        }
      } catch (e) {
        throw sendError(e);
      }
    },
    async close() {
      closing = true;
      stop.abort();
    },
  };
}

/** Telegram posting an update (webhook mode): checked by its secret header, taken, then answered 200. */
async function webhook(o: TelegramOptions, req: WebhookRequest, host: AdapterHost): Promise<WebhookAnswer> {
  const given = req.headers["x-telegram-bot-api-secret-token"];
  const secret = Array.isArray(given) ? given[0] : given;
  if (o.mode !== "webhook" || !o.webhookSecret || !secret || !safeEqual(secret, o.webhookSecret)) {
    return { status: 401, body: { error: { code: "bad_secret", message: "X-Telegram-Bot-Api-Secret-Token is missing or wrong" } } };
  }
  let update: Update;
  try {
    update = JSON.parse(req.body.toString("utf8")) as Update;
  } catch {
    return { status: 400, body: { error: { code: "bad_json", message: "the body is not JSON" } } };
  }
  const native = nativeOf(update, await botOf(o), o);
  if (native) await host.receive(native);
  // a button press is answered (the client stops its spinner) in the webhook's own response, as the Bot API allows:
  // no call of our own, and Telegram makes it only once the update is taken
  if (update.callback_query) return { status: 200, body: { method: "answerCallbackQuery", callback_query_id: update.callback_query.id } };
  return { status: 200, body: {} };
}

function safeEqual(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The bot's id and username (for group gating in webhook mode, where no connection asked): asked once per token. */
const bots = new Map<string, Promise<{ id: number; username: string }>>();
function botOf(o: TelegramOptions): Promise<{ id: number; username: string }> {
  let p = bots.get(o.token);
  if (!p) {
    p = import("grammy").then(async ({ Api: BotApi }) => {
      const me = await new BotApi(o.token, { apiRoot: o.apiRoot }).getMe();
      return { id: me.id, username: me.username };
    });
    p.catch(() => bots.delete(o.token));
    bots.set(o.token, p);
  }
  return p;
}

/** The Telegram channel type. */
export const telegramAdapter = defineAdapter({
  type: "telegram",
  options: TelegramOptionsSchema,
  // a location (no coordinates, only a URL) goes as a link
  capabilities: { threads: false, edits: true, media: EVERY_MEDIUM.filter((m) => SEND_MEDIA[m]), maxTextLength: MAX_TEXT },
  connect: (o, host) => connect(o, host),
  webhook,
});
