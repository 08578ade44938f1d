/**
 * `defineAdapter`: a channel type from its folder's declaration. Its options
 * are inferred from its schema (no adapter writes their type twice), and its
 * connections are wrapped so that its declared capabilities hold whatever
 * the adapter does: replies fitted to the media it takes, pieces of a reply
 * being written passed on only when it edits.
 */
import type { z } from "zod";
import { fitReply } from "./fit-reply.js";
import type { AdapterDefinition, ChannelAdapter, ChannelCapabilities, ChannelConnection, ChannelOptions } from "./types.js";

/** A connection that keeps to the channel's capabilities. */
function keptTo(c: ChannelConnection, capabilities: ChannelCapabilities): ChannelConnection {
  const delta = capabilities.edits ? c.delta : undefined;
  return {
    lost: c.lost,
    send: (reply) => c.send({ ...reply, envelope: fitReply(reply.envelope, capabilities) }),
    // only a channel that can edit what it sent shows a reply growing: the runner listens for pieces only then
    ...(delta ? { delta: (piece) => delta.call(c, piece) } : {}),
    close: () => c.close(),
  };
}

/**
 * Makes a channel type of an adapter's declaration; registry.ts lists it.
 * The options `connect` and `webhook` get are parsed again by the type's own
 * schema: the registry holds every type alike, and this is where an
 * account's options are known to be this type's (schemas check, they do not
 * transform, so parsing parsed options gives them back).
 */
export function defineAdapter<S extends z.ZodType<ChannelOptions>>(def: AdapterDefinition<S>): ChannelAdapter {
  const own = (options: ChannelOptions): z.output<S> => def.options.parse(options);
  const webhook = def.webhook;
  return {
    type: def.type,
    options: def.options,
    capabilities: def.capabilities,
    connect: async (options, host, signal) => keptTo(await def.connect(own(options), host, signal), def.capabilities),
    ...(webhook ? { webhook: (options: ChannelOptions, req, host) => webhook.call(def, own(options), req, host) } : {}),
  };
}
