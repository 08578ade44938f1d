/**
 * A reply made to fit what its channel can take (the adapter's declared
 * capabilities), before the adapter sends it: no adapter has to decide on
 * its own what to do with a medium it cannot send.
 */
import { MediaSchema, type Envelope } from "../bus/index.js";
import type { ChannelCapabilities, MediaType } from "./types.js";

/** Every kind of medium: what a channel takes whose replies carry media as references (a JSON payload). */
export const EVERY_MEDIUM: readonly MediaType[] = MediaSchema.shape.type.options;

/**
 * The reply as the channel can send it: media of a type it takes stay media;
 * any other medium with a URL becomes a line of the text (`<name>: <url>`),
 * so that it still reaches the chat (a location on Telegram, say) instead of
 * being dropped; one without a URL has nothing to show and is left out.
 */
export function fitReply(envelope: Envelope, capabilities: Pick<ChannelCapabilities, "media">): Envelope {
  const takes = (m: Envelope["media"][number]) => capabilities.media.includes(m.type);
  if (envelope.media.every(takes)) return envelope;
  const links = envelope.media.filter((m) => !takes(m) && m.url).map((m) => `${m.name ?? m.type}: ${m.url}`);
  const text = [envelope.text ?? "", ...links].filter((line) => line !== "").join("\n");
  return { ...envelope, text, media: envelope.media.filter(takes) };
}
