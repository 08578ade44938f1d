/**
 * Channel adapters: the seam (types), the registry of channel types, and the
 * runner of one account.
 */
export * from "./types.js";
export { defineAdapter } from "./define-adapter.js";
export { fitReply, EVERY_MEDIUM } from "./fit-reply.js";
export { CHANNEL_ADAPTERS, parseChannels, ChannelConfigError, type ChannelConfig } from "./registry.js";
export { createAccountInbound, nativeMessageId, type AccountInboundOptions } from "./account-inbound.js";
export { createChannelRunner, type ChannelRunner, type ChannelRunnerEvent, type ChannelRunnerOptions, type ChannelStatus } from "./channel-runner.js";
export { channelMachine, type ChannelContext } from "./channel.machine.js";
export { parseNativePayload, replyPayload, NativePayloadError, type NativeInput } from "./native-payload.js";
