/**
 * Which Discord messages the bot takes, and as what: a pure mapping of a
 * Gateway `MESSAGE_CREATE` dispatch to a native message (no I/O, tested
 * without a connection).
 *
 * - In a guild (a server's channel or thread) only a message that mentions
 *   the bot (`<@id>` in `mentions`) or replies to one of its messages; in a
 *   direct message every message.
 * - Never a bot's message (the bot's own among them), nor a system message
 *   (a join, a pin, a thread created): only `DEFAULT` and `REPLY` messages.
 * - The chat is the message's channel id — a thread is a channel of its
 *   own, so a thread is a session and its parent channel another.
 * - The bot's own mention is taken out of the text; attachments come in as
 *   media references (their CDN URL, no download).
 *
 * @see https://discord.com/developers/docs/events/gateway-events#message-create
 */
import type { NativeMessage } from "../types.js";
import type { Envelope } from "../../bus/index.js";

/** The fields of a Gateway message this mapping reads (a subset of Discord's `APIMessage`, checked as it is read). */
export interface GatewayMessage {
  id?: unknown;
  channel_id?: unknown;
  guild_id?: unknown;
  type?: unknown;
  content?: unknown;
  author?: { id?: unknown; bot?: unknown; username?: unknown; global_name?: unknown };
  mentions?: unknown;
  referenced_message?: { author?: { id?: unknown } } | null;
  attachments?: unknown;
}

/** Discord's message types that a person wrote: `DEFAULT` (0) and `REPLY` (19). */
const WRITTEN = new Set([0, 19]);

const isId = (v: unknown): v is string => typeof v === "string" && /^\d{1,24}$/.test(v);

/** The attachments as media references (the CDN URL, Discord's content type, the file's name and size). */
function mediaOf(attachments: unknown): Envelope["media"] {
  if (!Array.isArray(attachments)) return [];
  return attachments.flatMap((a: Record<string, unknown>) => {
    if (typeof a !== "object" || a === null || typeof a.url !== "string") return [];
    const mime = typeof a.content_type === "string" ? a.content_type : undefined;
    const kind = mime?.split("/")[0];
    const type = kind === "image" || kind === "audio" || kind === "video" ? kind : "file";
    return [
      {
        type,
        url: a.url.slice(0, 4096),
        ...(mime ? { mime: mime.slice(0, 256) } : {}),
        ...(typeof a.filename === "string" ? { name: a.filename.slice(0, 1024) } : {}),
        ...(Number.isSafeInteger(a.size) && (a.size as number) >= 0 ? { size: a.size as number } : {}),
      },
    ];
  });
}

/** The native message of a `MESSAGE_CREATE`, or undefined when the bot is not meant to take it. */
export function nativeOf(m: GatewayMessage, botId: string): NativeMessage | undefined {
  const author = m.author;
  if (!isId(m.id) || !isId(m.channel_id) || !author || !isId(author.id) || author.bot === true) return undefined;
  if (!WRITTEN.has(m.type as number)) return undefined;
  const guild = isId(m.guild_id) ? m.guild_id : undefined;
  const mentioned = Array.isArray(m.mentions) && m.mentions.some((u: { id?: unknown }) => u?.id === botId);
  const repliedTo = m.referenced_message?.author?.id === botId;
  if (guild && !mentioned && !repliedTo) return undefined;
  const content = typeof m.content === "string" ? m.content : "";
  const text = content.replaceAll(`<@${botId}>`, "").replaceAll(`<@!${botId}>`, "").trim();
  const media = mediaOf(m.attachments);
  if (text === "" && media.length === 0) return undefined; // a mention alone, a sticker: nothing to answer
  const name = [author.global_name, author.username].find((n): n is string => typeof n === "string" && n !== "");
  return {
    chat: m.channel_id,
    data: new TextEncoder().encode(JSON.stringify({ text, sender: { id: author.id, ...(name ? { name } : {}) }, ...(media.length ? { media } : {}) })),
    // the message's snowflake: a dispatch replayed after a resume (or by another node's connection) is absorbed
    id: m.id,
    metadata: { messageId: m.id, channelId: m.channel_id, ...(guild ? { guildId: guild } : {}), direct: !guild },
    routing: { messageId: m.id },
  };
}
